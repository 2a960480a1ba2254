import Foundation
import Testing
import GraftData
import GraftModels
import GraftNN
import GraftOptim
import GraftTensor
import GraftWeights
import TestSupport
@testable import GraftTraining

/// Small, seeded synthetic data: two classes whose images differ in mean brightness.
func syntheticSource(count: Int = 64, size: Int = 16, batch: Int = 16, seed: UInt64 = 3) -> InMemoryBatchSource {
    var rng = RandomGenerator(seed: seed)
    var images = Tensor.normal([count, 3, size, size], std: 1, using: &rng)
    let labels = (0..<count).map { $0 % 2 }
    let per = 3 * size * size
    let p = images.mutablePointer()
    for i in 0..<count where labels[i] == 1 { for j in 0..<per { p[i * per + j] += 0.8 } }
    return InMemoryBatchSource(images: images, labels: labels, batchSize: batch, shuffle: true, seed: seed)
}

func makeTrainer(seed: UInt64 = 0) throws -> Trainer {
    let model = VanillaCNN(numClasses: 2, dropout: 0.5, seed: seed)
    var config = try OptimizerConfig(parsing: "sgd")
    config.learningRate = 0.01
    config.momentum = 0.9
    let optimizer = try Optimizer(config, parameters: model.namedParameters())
    let schedule = CyclicLR(
        baseLR: 1e-3, maxLR: 1e-2, stepSizeUp: 3, stepSizeDown: nil, mode: .triangular,
        gamma: 1, momentumRange: MomentumRange(base: 0.8, max: 0.9))
    return try Trainer(model: model, optimizer: optimizer, schedule: schedule, trainableBlocks: model.blockNames)
}

@Suite(.serialized) struct TrainerTests {
    /// Losses after a resume from a checkpoint file equal those of an uninterrupted run, bit for bit.
    @Test func resumeFromCheckpointIsExact() throws {
        let source = syntheticSource()
        let straight = try makeTrainer()
        var straightLosses: [Float] = []
        straight.onStep = { _, loss, _, _ in straightLosses.append(loss) }
        try straight.fit(train: source, validation: source, epochs: 4)

        let first = try makeTrainer()
        var resumedLosses: [Float] = []
        first.onStep = { _, loss, _, _ in resumedLosses.append(loss) }
        try first.fit(train: source, validation: source, epochs: 2)
        let config = RunConfiguration(
            modelId: "vanilla-cnn", architecture: "vanilla-cnn", weights: nil,
            data: DataSpecification(source: "synthetic", imageSize: 16),
            optimizer: first.optimizer.config, schedule: .constant(0.01),
            trainable: first.model.blockNames, epochs: 4, batchSize: 16, seed: 0)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("graft-resume-\(UUID().uuidString).h5")
        defer { try? FileManager.default.removeItem(at: file) }
        try TrainingCheckpoint(
            trainer: first, configuration: config,
            attributes: WeightsAttributes(
                modelID: "vanilla-cnn", architecture: "vanilla-cnn", numClasses: 2, inputSize: [3, 16, 16],
                mean: [0, 0, 0], std: [1, 1, 1])
        )
        .write(to: file)

        // A fresh process would build everything anew: a different seed proves nothing leaks through.
        let second = try makeTrainer(seed: 99)
        second.onStep = { _, loss, _, _ in resumedLosses.append(loss) }
        try TrainingCheckpoint.read(file).restore(into: second)
        try second.fit(train: source, validation: source, epochs: 4)

        #expect(straightLosses.count == 16)
        #expect(resumedLosses.map(\.bitPattern) == straightLosses.map(\.bitPattern))
        #expect(second.model.stateDict() == straight.model.stateDict())
        #expect(second.position.history.map(\.trainLoss) == straight.position.history.map(\.trainLoss))
    }

    /// A mid-epoch snapshot at a schedule minimum also resumes exactly.
    @Test func resumeFromMidEpochMinimumIsExact() throws {
        let source = syntheticSource(count: 80)  // 5 batches: minima every 6 steps fall mid-epoch
        let straight = try makeTrainer()
        var losses: [Float] = []
        straight.onStep = { _, loss, _, _ in losses.append(loss) }
        var snapshot: (TrainingPosition, StateDict, StateDict, [String: [UInt64]])?
        straight.onCheckpoint = { moment, t in
            if !moment.isEpochEnd, snapshot == nil {
                snapshot = (t.position, t.model.stateDict(), t.optimizer.stateDict(), ModelRandomState.capture(t.model))
            }
        }
        try straight.fit(train: source, validation: nil, epochs: 3)
        let (position, weights, optimizerState, rng) = try #require(snapshot)
        #expect(position.batchInEpoch != 0)

        let resumed = try makeTrainer(seed: 5)
        var tail: [Float] = []
        resumed.onStep = { _, loss, _, _ in tail.append(loss) }
        try TrainingCheckpoint(
            model: weights, optimizer: optimizerState, position: position, randomState: rng,
            runConfiguration: .synthetic(optimizer: resumed.optimizer.config, epochs: 3),
            attributes: WeightsAttributes(
                modelID: "v", architecture: "vanilla-cnn", numClasses: 2, inputSize: [3, 16, 16], mean: [0, 0, 0],
                std: [1, 1, 1])
        )
        .restore(into: resumed)
        try resumed.fit(train: source, validation: nil, epochs: 3)
        #expect(tail.map(\.bitPattern) == losses.suffix(tail.count).map(\.bitPattern))
        #expect(resumed.position.history.map(\.trainLoss) == straight.position.history.map(\.trainLoss))
    }

    /// Transfer learning with `layer4,head` trainable changes no frozen parameter or frozen
    /// BatchNorm statistic, bit for bit.
    @Test func frozenBlocksStayBitIdentical() throws {
        let model = ResNet(depth: .resnet18, numClasses: 2, seed: 1)
        let before = model.stateDict()
        var config = try OptimizerConfig(parsing: "sgd")
        config.learningRate = 0.05
        config.momentum = 0.9
        config.weightDecay = 1e-4
        let trainer = try Trainer(
            model: model, optimizer: try Optimizer(config, parameters: model.namedParameters()),
            schedule: ConstantLR(lr: 0.05), trainableBlocks: ["layer4", "head"])
        try trainer.fit(train: syntheticSource(count: 16, size: 32, batch: 8), validation: nil, epochs: 1)
        let after = model.stateDict()
        var changed = 0
        for key in before.keys {
            let frozen = !key.hasPrefix("layer4.") && !key.hasPrefix("fc.")
            if frozen {
                #expect(after[key] == before[key], "frozen \(key) changed")
            } else if after[key] != before[key] {
                changed += 1
            }
        }
        #expect(changed > 20, "layer4 and the head should have trained")
    }

    /// The LR range test leaves weights, buffers and optimizer state exactly as they were.
    @Test func lrFinderHasNoSideEffects() throws {
        let trainer = try makeTrainer()
        let source = syntheticSource()
        try trainer.fit(train: source, validation: nil, epochs: 1)
        let weights = trainer.model.stateDict(), state = trainer.optimizer.stateDict()
        let result = try LRFinder.run(
            model: trainer.model, optimizer: trainer.optimizer, source: source,
            config: LRRangeTestConfig(steps: 12), trainableBlocks: trainer.model.blockNames)
        #expect(result.lrs.count > 0)
        #expect(trainer.model.stateDict() == weights)
        #expect(trainer.optimizer.stateDict() == state)
    }

    @Test func aNaNInTheDataStopsTraining() throws {
        let trainer = try makeTrainer()
        let source = syntheticSource()
        var images = source.images
        images.withUnsafeMutableBufferPointer { $0[5] = .nan }
        let bad = InMemoryBatchSource(images: images, labels: source.labels, batchSize: 64, shuffle: false)
        #expect(throws: TrainingError.self) { try trainer.fit(train: bad, validation: nil, epochs: 1) }
    }

    @Test func nonFiniteLossStopsWithAClearError() throws {
        // A learning rate far too high makes the weights, then the loss, overflow.
        let model = VanillaCNN(numClasses: 2, dropout: 0, seed: 0)
        var config = try OptimizerConfig(parsing: "sgd")
        config.learningRate = 1e12
        let trainer = try Trainer(
            model: model, optimizer: try Optimizer(config, parameters: model.namedParameters()),
            schedule: ConstantLR(lr: 1e12), trainableBlocks: model.blockNames)
        do {
            try trainer.fit(train: syntheticSource(), validation: nil, epochs: 5)
            Issue.record("training with lr 1e12 should stop on a non-finite loss")
        } catch let error as TrainingError {
            guard case .nonFiniteLoss(_, let step, let value) = error else { throw error }
            #expect(!value.isFinite)
            #expect(step > 0)
            #expect(error.localizedDescription.contains("lower the learning rate"))
        }
    }
}

/// A short vanilla-CNN run on real Fashion-MNIST learns: test accuracy well above chance
/// (10 classes: 10%) after one epoch on a few thousand images.
@Suite struct FashionMNISTLearningTests {
    @Test(.enabled(if: FashionMNISTAvailability.trainAndTest.runs, FashionMNISTAvailability.trainAndTest.comment))
    func vanillaCNNLearnsInOneEpoch() throws {
        try FashionMNISTAvailability.trainAndTest.require()
        let train = try FashionMNIST(split: .train), test = try FashionMNIST(split: .test)
        func tensor(_ data: FashionMNIST, _ indices: [Int]) throws -> (Tensor, [Int]) {
            var x = Tensor(uninitializedShape: [indices.count, 3, 28, 28])
            let p = x.mutablePointer()
            for (k, i) in indices.enumerated() {
                let image = try data.loadImage(i)
                for c in 0..<3 {
                    for j in 0..<784 { p[(k * 3 + c) * 784 + j] = (Float(image.pixels[j * 3 + c]) / 255 - 0.5) / 0.5 }
                }
            }
            return (x, indices.map(data.label))
        }
        let (xTrain, yTrain) = try tensor(train, train.indices(perClass: 300))
        let (xTest, yTest) = try tensor(test, test.indices(perClass: 100))
        let model = VanillaCNN(numClasses: 10, seed: 0)
        var config = try OptimizerConfig(parsing: "adam")
        config.learningRate = 1e-3
        let trainer = try Trainer(
            model: model, optimizer: try Optimizer(config, parameters: model.namedParameters()),
            schedule: ConstantLR(lr: 1e-3), trainableBlocks: model.blockNames)
        try trainer.fit(
            train: InMemoryBatchSource(images: xTrain, labels: yTrain, batchSize: 32, shuffle: true),
            validation: nil, epochs: 1)
        let result = try Evaluation.run(
            model, on: InMemoryBatchSource(images: xTest, labels: yTest, batchSize: 100, shuffle: false))
        #expect(result.accuracy > 0.5, "test accuracy \(result.accuracy)")
    }
}

extension RunConfiguration {
    /// The configuration recorded with the synthetic 16×16 vanilla-CNN runs of these tests.
    static func synthetic(optimizer: OptimizerConfig, epochs: Int) -> RunConfiguration {
        RunConfiguration(
            modelId: "vanilla-cnn", architecture: "vanilla-cnn", weights: nil,
            data: DataSpecification(source: "synthetic", imageSize: 16),
            optimizer: optimizer, schedule: .constant(0.01),
            trainable: [], epochs: epochs, batchSize: 16, seed: 0)
    }
}
