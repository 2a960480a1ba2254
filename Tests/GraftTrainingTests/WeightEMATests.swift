import Foundation
import GraftCatalog
import GraftData
import GraftModels
import GraftNN
import GraftOptim
import GraftTensor
import GraftWeights
import Testing
import TestSupport

@testable import GraftTraining

/// Weight EMA against `torch.optim.swa_utils.AveragedModel(…, get_ema_multi_avg_fn(decay),
/// use_buffers=True)` (`Tests/Fixtures/weight-ema.json`, `scripts/make-regulariser-fixtures.py`),
/// then its place in training: evaluated each epoch, recorded, checkpointed, resumed exactly,
/// exported and published.
@Suite(.serialized) struct WeightEMATests {
    struct Step: Decodable {
        var loss: Double
        var model: [String: FixtureNumbers]
        var ema: [[String: FixtureNumbers]]
    }

    struct Batch: Decodable {
        var images: [Double]
        var shape: [Int]
        var labels: [Int]
    }

    struct File: Decodable {
        var decays: [Double]
        var initial: [String: FixtureNumbers]
        var batches: [Batch]
        var steps: [Step]
    }

    static func fixture() throws -> File {
        try JSONDecoder().decode(File.self, from: Data(contentsOf: Fixtures.committed("weight-ema.json")))
    }

    /// Compares every entry of `state` with the fixture's: floats to rel-to-max `tolerance`,
    /// integers (`num_batches_tracked`) exactly. Returns the largest rel-to-max seen.
    @discardableResult
    static func compare(
        _ state: StateDict, _ reference: [String: FixtureNumbers], tolerance: Double, _ what: String
    ) -> Double {
        #expect(Set(state.keys) == Set(reference.keys), "\(what): keys")
        var largest = 0.0
        for (key, value) in state {
            switch (value, reference[key]) {
            case (.float(let t), .floats(let numbers)?):
                let r = relToMax(t.scalars, numbers)
                largest = max(largest, r.scale > 0 ? r.worst / r.scale : r.worst)
                #expect(r.worst <= tolerance * r.scale, "\(what) \(key): off by \(r.worst) (max \(r.scale))")
            case (.int64(_, let values), .int(let n)?):
                #expect(values == [n], "\(what) \(key): \(values) vs \(n)")
            default:
                Issue.record("\(what) \(key): type differs from the fixture")
            }
        }
        return largest
    }

    /// Fed PyTorch's own model states, the average is PyTorch's: the same lerp, differing at
    /// most in the last bit where ATen's scalar tail skips the fused multiply-add (rel-to-max 1e-6;
    /// measured: 0).
    @Test("the average of PyTorch's model states is AveragedModel's, for a decay on each side of 0.5")
    func averagesLikePyTorch() throws {
        let file = try Self.fixture()
        let model = smallFixtureModel(classes: 3)
        for (d, decay) in file.decays.enumerated() {
            var ema = WeightEMA(decay: decay)
            for (i, step) in file.steps.enumerated() {
                _ = try model.load(fixtureState(step.model, like: model), strict: true)
                ema.update(from: model)
                #expect(ema.updates == i + 1)
                Self.compare(ema.state, step.ema[d], tolerance: 1e-6, "decay \(decay) step \(i + 1)")
            }
        }
    }

    /// Trained here from the same start on the same batches (SGD, BatchNorm on batch statistics),
    /// the model and both averages stay within rel-to-max 2e-6 of PyTorch's over 4 steps
    /// (measured: 2.3e-7, from float32 rounding in the gradients).
    @Test("four SGD steps with the average updated after each match PyTorch's run")
    func trainsLikePyTorch() throws {
        let file = try Self.fixture()
        let model = smallFixtureModel(classes: 3)
        _ = try model.load(fixtureState(file.initial, like: model), strict: true)
        model.train()
        var config = try OptimizerConfig(parsing: "sgd")
        config.learningRate = 0.1
        config.momentum = 0.9
        let optimizer = try Optimizer(config, parameters: model.namedParameters())
        var averages = file.decays.map { WeightEMA(decay: $0) }
        var largest = 0.0
        for (i, (batch, step)) in zip(file.batches, file.steps).enumerated() {
            optimizer.zeroGrad()
            let logits = model.forward(
                Tensor(shape: batch.shape, scalars: batch.images.map(Float.init)), mode: .parameters)
            let (loss, gradient, _) = CrossEntropy.lossAndGradient(logits: logits, labels: batch.labels)
            #expect(abs(Double(loss) - step.loss) <= 2e-6 * step.loss, "step \(i + 1): loss \(loss) vs \(step.loss)")
            _ = model.backward(gradient)
            model.clearSaved()
            optimizer.step()
            for j in averages.indices { averages[j].update(from: model) }
            largest = max(largest, Self.compare(model.stateDict(), step.model, tolerance: 2e-6, "model step \(i + 1)"))
            for (j, ema) in averages.enumerated() {
                largest = max(largest, Self.compare(ema.state, step.ema[j], tolerance: 2e-6, "EMA \(j) step \(i + 1)"))
            }
        }
        #expect(largest > 0, "a float32 run that matched PyTorch to the bit would be a surprise worth a look")
    }

    /// A trainer with mixup, CutMix and an EMA, interrupted after 2 of 4 epochs and resumed from
    /// the checkpoint file in a fresh trainer: the same losses, weights, average and EMA
    /// validation figures as without the interruption, bit for bit.
    @Test func resumeWithMixingAndEMAIsExact() throws {
        let source = syntheticSource()
        func trainer(seed: UInt64) throws -> Trainer {
            let t = try makeTrainer(seed: seed)
            t.batchMixing = BatchMixing(mixupAlpha: 0.4, cutmixAlpha: 1.0, seed: 3)
            t.weightEMA = WeightEMA(decay: 0.8)
            return t
        }
        let straight = try trainer(seed: 0)
        var straightLosses: [Float] = []
        straight.onStep = { _, loss, _, _ in straightLosses.append(loss) }
        try straight.fit(train: source, validation: source, epochs: 4)

        let first = try trainer(seed: 0)
        var resumedLosses: [Float] = []
        first.onStep = { _, loss, _, _ in resumedLosses.append(loss) }
        try first.fit(train: source, validation: source, epochs: 2)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("graft-ema-\(UUID().uuidString).h5")
        defer { try? FileManager.default.removeItem(at: file) }
        try TrainingCheckpoint(
            trainer: first, configuration: .synthetic(optimizer: first.optimizer.config, epochs: 4),
            attributes: WeightsAttributes(
                modelID: "vanilla-cnn", architecture: "vanilla-cnn", numClasses: 2, inputSize: [3, 16, 16],
                mean: [0, 0, 0], std: [1, 1, 1])
        )
        .write(to: file)
        #expect(try TrainingCheckpoint.readEMA(from: file) == first.weightEMA)

        let second = try trainer(seed: 99)
        second.onStep = { _, loss, _, _ in resumedLosses.append(loss) }
        try TrainingCheckpoint.read(file).restore(into: second)
        try second.fit(train: source, validation: source, epochs: 4)

        #expect(resumedLosses.map(\.bitPattern) == straightLosses.map(\.bitPattern))
        #expect(second.model.stateDict() == straight.model.stateDict())
        let ema = try #require(straight.weightEMA)
        #expect(second.weightEMA == ema && ema.updates == 16)
        #expect(ema.state != straight.model.stateDict(), "the average lags the weights")
        let figures = straight.position.history.map { [$0.emaValidationLoss, $0.emaValidationAccuracy] }
        #expect(second.position.history.map { [$0.emaValidationLoss, $0.emaValidationAccuracy] } == figures)
        #expect(figures.allSatisfy { $0.allSatisfy { $0 != nil } })
        // Evaluating the average puts the model's own weights back.
        #expect(straight.position.history.map(\.validationLoss) != straight.position.history.map(\.emaValidationLoss))
    }

    /// With the trunk frozen and cached, the average is evaluated on the cached trunk output: its
    /// frozen entries are the model's exactly (a lerp between equal values), so the figures are
    /// those of the average run in full on the validation images.
    @Test func theFeatureCacheServesTheAverageToo() throws {
        let model = ResNet(depth: .resnet18, numClasses: 2, seed: 5)
        var config = try OptimizerConfig(parsing: "sgd")
        config.learningRate = 0.02
        let trainer = try Trainer(
            model: model, optimizer: try Optimizer(config, parameters: model.namedParameters()),
            schedule: ConstantLR(lr: 0.02), trainableBlocks: ["layer4", "head"])
        trainer.weightEMA = WeightEMA(decay: 0.5)
        let validation = syntheticSource(count: 16, size: 32, batch: 8, seed: 9)
        try trainer.fit(train: syntheticSource(count: 32, size: 32, batch: 16), validation: validation, epochs: 2)
        #expect(trainer.featureCache != nil, "the trunk below layer4 is cached")
        let ema = try #require(trainer.weightEMA)
        let live = model.stateDict()
        for key in live.keys where !key.hasPrefix("layer4") && !key.hasPrefix("fc") {
            #expect(ema.state[key] == live[key], "frozen \(key) differs in the average")
        }
        #expect(ema.state["fc.weight"] != live["fc.weight"])
        let fresh = ResNet(depth: .resnet18, numClasses: 2, seed: 1)
        _ = try fresh.load(ema.state, strict: true)
        let direct = try Evaluation.run(fresh, on: validation)
        let recorded = try #require(trainer.position.history.last?.emaValidationLoss)
        #expect(abs(recorded - direct.loss) <= 1e-6 * direct.loss, "\(recorded) vs \(direct.loss)")
        #expect(trainer.position.history.last?.emaValidationAccuracy == direct.accuracy)
    }

    /// A vanilla-CNN run on the fixture folder with mixup, CutMix and an EMA.
    static func emaRun(epochs: Int) -> RunConfiguration {
        var configuration = EarlyStoppingTests.frozenRun(epochs: epochs, patience: nil)
        configuration.optimizer.learningRate = 0.05
        configuration.trainable = ["block4", "head"]
        configuration.mixupAlpha = 0.4
        configuration.cutmixAlpha = 1.0
        configuration.emaDecay = 0.7
        return configuration
    }

    @Test(.enabled(if: Fixtures.prerequisite.runs, Fixtures.prerequisite.comment))
    func aRunRecordsResumesExportsAndPublishesItsEMA() throws {
        let directory = try TemporaryDirectory.make("graft-ema")
        defer { TemporaryDirectory.remove(directory) }
        let catalog = try Catalog.open(at: directory.appendingPathComponent("catalog.sqlite").path)
        let run = TrainingRun(configuration: Self.emaRun(epochs: 3), catalog: catalog)
        run.showProgress = false
        var warnings: [String] = []
        run.onEvent = { if case .warning(let text) = $0 { warnings.append(text) } }
        let summary = try run.start()
        #expect(warnings.contains { $0.contains("mixup and CutMix mix the input images") }, "\(warnings)")
        let rows = try catalog.epochMetrics(run: summary.runId)
        #expect(rows.count == 3 && rows.allSatisfy { $0.emaValLoss != nil && $0.emaValAcc != nil })
        #expect(rows.map(\.emaValLoss) == summary.history.map(\.emaValidationLoss))
        let metrics = try String(contentsOf: summary.metricsFile, encoding: .utf8)
        #expect(metrics.contains("\"emaValidationLoss\""))

        // Interrupted after 2 epochs, then resumed for 1 more: the same figures and average.
        let short = TrainingRun(configuration: Self.emaRun(epochs: 2), catalog: catalog)
        short.showProgress = false
        let first = try short.start()
        let resumed = try TrainingRun.resume(
            runId: first.runId, epoch: nil, catalog: catalog, showProgress: false, extraEpochs: 1)
        #expect(
            resumed.history
                == summary.history.enumerated().map { i, m in
                    var m = m
                    m.seconds = resumed.history[i].seconds
                    return m
                })
        func lastCheckpoint(_ run: Int64) throws -> CheckpointRecord {
            try #require(
                try catalog.checkpoints(filter: CheckpointFilter(run: run)).map(\.checkpoint).max {
                    $0.globalStep < $1.globalStep
                })
        }
        let straightCheckpoint = try lastCheckpoint(summary.runId)
        let straightFile = try catalog.verifiedFile(for: straightCheckpoint)
        let average = try TrainingCheckpoint.readEMA(from: straightFile)
        #expect(
            try TrainingCheckpoint.readEMA(from: catalog.verifiedFile(for: lastCheckpoint(resumed.runId))) == average)

        // Scored, exported and published, the average is a model of its own.
        let scored = try ModelUnderEvaluation.checkpoint(straightCheckpoint.id!, in: catalog, ema: true)
        #expect(scored.model.stateDict() == average.state && scored.name.hasPrefix("weight EMA of checkpoint"))
        let exported = directory.appendingPathComponent("ema.h5")
        try TrainingCheckpoint.export(checkpoint: straightCheckpoint.id!, from: catalog, to: exported, ema: true)
        #expect(try WeightsFile.read(exported).state == average.state)
        var publisher = ModelPublisher(id: "ema-test")
        publisher.ema = true
        let published = try publisher.publish(
            checkpoint: straightCheckpoint.id!, from: catalog, to: directory.appendingPathComponent("weights"))
        #expect(try WeightsFile.read(published.weightsURL).state == average.state)
        let accuracy = try #require(published.card.accuracy?.top1)
        #expect(abs(accuracy - summary.history.last!.emaValidationAccuracy! * 100) < 1e-9)

        // A run without an average says so when one is asked of it.
        let plain = TrainingRun(configuration: EarlyStoppingTests.frozenRun(epochs: 1, patience: nil), catalog: catalog)
        plain.showProgress = false
        let plainRun = try plain.start()
        let plainCheckpoint = try lastCheckpoint(plainRun.runId)
        #expect(throws: TrainingError.self) {
            try TrainingCheckpoint.export(
                checkpoint: plainCheckpoint.id!, from: catalog, to: directory.appendingPathComponent("x.h5"), ema: true)
        }
    }
}
