import GraftData
import GraftModels
import GraftNN
import GraftOptim
import GraftTensor

/// Runs an LR range test on a model: sweeps the learning rate over `config.steps` training steps
/// and records the loss, then puts the weights, buffers, optimizer state and RNGs back as they
/// were, so the test leaves no trace on the model.
public enum LRFinder {
    public static func run(
        model: any BlockStructured, optimizer: Optimizer, source: BatchSource,
        config: LRRangeTestConfig, trainableBlocks: [String],
        batchNormPolicy: BatchNormPolicy = .eval,
        onStep: ((Int, Double, Double) -> Void)? = nil
    ) throws -> LRRangeTestResult {
        let savedModel = model.stateDict()
        let savedOptimizer = optimizer.stateDict()
        let savedConfig = optimizer.config
        let savedRNG = ModelRandomState.capture(model)
        let savedTraining = model.namedModules().map { $0.module.isTraining }
        let savedRequiresGrad = model.namedParameters().map { $0.parameter.requiresGrad }
        defer {
            _ = try? model.load(savedModel, strict: true)
            try? optimizer.load(stateDict: savedOptimizer)
            optimizer.config = savedConfig
            ModelRandomState.restore(savedRNG, into: model)
            for ((_, m), on) in zip(model.namedModules(), savedTraining) { m.isTraining = on }
            for ((_, p), on) in zip(model.namedParameters(), savedRequiresGrad) {
                p.requiresGrad = on
                p.grad = nil
            }
        }
        model.train()
        try model.setTrainable(trainableBlocks, batchNorm: batchNormPolicy)
        var test = LRRangeTest(config)
        var step = 0
        var epoch = 0
        sweep: while step < config.steps {
            let batches = source.batches(epoch: epoch, startingAt: 0)
            while let batch = try batches.next() {
                guard step < config.steps else { break sweep }
                let lr = test.learningRate(at: step)
                optimizer.learningRate = lr
                optimizer.zeroGrad()
                let logits = model.forward(batch.images, mode: .parameters)
                let (loss, gradient, _) = CrossEntropy.lossAndGradient(logits: logits, labels: batch.labels)
                if loss.isFinite {
                    _ = model.backward(gradient)
                    optimizer.step()
                }
                model.clearSaved()
                let decision = test.record(loss: Double(loss))
                onStep?(step, lr, Double(loss))
                step += 1
                if decision == .stop { break sweep }
            }
            epoch += 1
        }
        return test.result()
    }
}

/// The random-number state a model carries (its Dropout layers), keyed by module path, so
/// checkpoints and side-effect-free procedures can restore it.
public enum ModelRandomState {
    public static func capture(_ model: Module) -> [String: [UInt64]] {
        var result: [String: [UInt64]] = [:]
        for (name, m) in model.namedModules() {
            if let d = m as? Dropout { result[name] = d.rng.state }
        }
        return result
    }

    public static func restore(_ state: [String: [UInt64]], into model: Module) {
        for (name, m) in model.namedModules() {
            if let d = m as? Dropout, let s = state[name], s.count == 4 { d.rng = RandomGenerator(state: s) }
        }
    }
}
