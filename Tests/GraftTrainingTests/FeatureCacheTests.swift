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

/// The frozen-trunk feature cache: the same training as without it, with the trunk run once per
/// sample, and off wherever the trunk's output could change between epochs.
@Suite(.serialized) struct FeatureCacheTests {
    /// ResNet18 at 32², stem…layer3 frozen with BatchNorm in eval mode, layer4 + head trained.
    func resnetTrainer(
        cacheBytes: Int, trainable: [String] = ["layer4", "head"],
        policy: BatchNormPolicy = .eval
    ) throws -> Trainer {
        let model = ResNet(depth: .resnet18, numClasses: 2, seed: 5)
        var config = try OptimizerConfig(parsing: "sgd")
        config.learningRate = 0.02
        config.momentum = 0.9
        let optimizer = try Optimizer(config, parameters: model.namedParameters())
        let trainer = try Trainer(
            model: model, optimizer: optimizer, schedule: ConstantLR(lr: 0.02),
            trainableBlocks: trainable, batchNormPolicy: policy)
        trainer.featureCacheBytes = cacheBytes
        return trainer
    }

    func run(_ trainer: Trainer, _ source: BatchSource, epochs: Int) throws -> [Float] {
        try train(trainer, source, epochs: epochs).losses
    }

    /// A run's per-step losses, and its convolution biases whose BatchNorm removes them again
    /// (`BiasBeforeBatchNorm`), followed step by step.
    func train(
        _ trainer: Trainer, _ source: BatchSource, epochs: Int
    ) throws
        -> (losses: [Float], biasesBeforeBatchNorm: [BiasBeforeBatchNorm])
    {
        var losses: [Float] = []
        let biases = BiasBeforeBatchNorm.all(in: trainer.model)
        trainer.onStep = { _, loss, _, _ in
            losses.append(loss)
            for bias in biases { bias.step() }
        }
        try trainer.fit(train: source, validation: nil, epochs: epochs)
        return (losses, biases)
    }

    /// Validation reuses the trunk's output too: the trunk runs once per validation batch over
    /// the whole run, and every epoch's validation metrics equal the plain path's exactly for the
    /// first epoch (same computation) and to float32 rounding after (the heads differ by that).
    @Test func validationReusesTheTrunkOutput() throws {
        let train = syntheticSource(count: 40, size: 32, batch: 16)
        let validation = syntheticSource(count: 24, size: 32, batch: 8, seed: 9)
        var metrics: [[EpochMetrics]] = []
        for bytes in [0, 1 << 30] {
            let trainer = try resnetTrainer(cacheBytes: bytes)
            try trainer.fit(train: train, validation: validation, epochs: 3)
            metrics.append(trainer.position.history)
            if bytes > 0 {
                let cache = try #require(trainer.validationCache)
                #expect(cache.count == 24 && cache.trunkPasses == 3)
            } else {
                #expect(trainer.validationCache == nil)
            }
        }
        let (plain, cached) = (metrics[0], metrics[1])
        #expect(plain.count == 3 && cached.count == 3)
        #expect(plain[0].validationLoss == cached[0].validationLoss)
        for (a, b) in zip(plain, cached) {
            let (x, y) = (try #require(a.validationLoss), try #require(b.validationLoss))
            #expect(lossesAgree(x, y), "validation loss \(x) plain, \(y) cached")
            #expect(a.validationAccuracy == b.validationAccuracy)
        }
    }

    /// Two losses of the same training to float32 rounding: relative 1e-5 (the fixture README's
    /// bound for a loss), and absolute 1e-5 for losses below 1. The absolute part is needed:
    /// cross-entropy moves by at most 2·max|Δlogit| when the logits move, so the difference of two
    /// near-zero losses is set by the logits' rounding (relative to the logits' size), not by the
    /// loss's own size. These runs reach losses of 2.1e-6 that differ by 3.8e-11 (relative 1.8e-5),
    /// and 1.07e-4 that differ by 2.3e-9 (2.1e-5), while the weights agree to 4.4e-6 rel-to-max.
    func lossesAgree<T: BinaryFloatingPoint>(_ a: T, _ b: T) -> Bool { abs(a - b) <= T(1e-5) * max(1, abs(a)) }

    /// Per-step losses within float32 rounding (`lossesAgree`), and the final weights: every
    /// float array rel-to-max 1e-4 against the plain run's
    /// (the README's notation, no floor; the README allows 1e-4 for logits after one training
    /// step, and after these 4 epochs the largest difference measured was 4.4e-6, in
    /// layer4.1.bn1.running_var), integer buffers equal.
    ///
    /// A convolution bias that a train-mode BatchNorm removes has no true gradient: under Adam it
    /// walks wherever the kernel's rounding sends it (`BiasBeforeBatchNorm`), and so does that
    /// BatchNorm's running mean. Those two are compared by what the weights determine: the
    /// running mean net of the bias, to the same 1e-4.
    func expectSameTraining(
        _ plain: (losses: [Float], biasesBeforeBatchNorm: [BiasBeforeBatchNorm]),
        _ cached: (losses: [Float], biasesBeforeBatchNorm: [BiasBeforeBatchNorm]),
        _ plainTrainer: Trainer, _ cachedTrainer: Trainer
    ) {
        #expect(plain.losses.count == cached.losses.count)
        for (a, b) in zip(plain.losses, cached.losses) {
            #expect(lossesAgree(a, b), "loss \(a) plain, \(b) cached")
        }
        #expect(plain.biasesBeforeBatchNorm.count == cached.biasesBeforeBatchNorm.count)
        var noise: Set<String> = []
        for (a, b) in zip(plain.biasesBeforeBatchNorm, cached.biasesBeforeBatchNorm) where a.isRoundingNoise {
            #expect(a.biasKey == b.biasKey && b.isRoundingNoise)
            noise.formUnion([a.biasKey, a.runningMeanKey])
            let (x, y) = (a.runningMeanWithoutBias, b.runningMeanWithoutBias)
            #expect(Compare.relToMax(y, x) < 1e-4, "\(a.runningMeanKey) net of \(a.biasKey)")
        }
        let plainWeights = plainTrainer.model.stateDict(), cachedWeights = cachedTrainer.model.stateDict()
        #expect(plainWeights.keys.sorted() == cachedWeights.keys.sorted())
        for key in plainWeights.keys where !noise.contains(key) {
            switch (plainWeights[key], cachedWeights[key]) {
            case (.float(let a)?, .float(let b)?):
                #expect(Compare.relToMax(b, a) < 1e-4, "\(key)")
            case let (a, b):
                // Integer buffers (num_batches_tracked) count steps: equal.
                #expect(a == b, "\(key)")
            }
        }
    }

    @Test func cachedTrainingMatchesThePlainPath() throws {
        // 40 images in batches of 16: the last batch (8) is smaller, as in real epochs.
        let source = syntheticSource(count: 40, size: 32, batch: 16)
        let plain = try resnetTrainer(cacheBytes: 0)
        let cached = try resnetTrainer(cacheBytes: 1 << 30)
        let plainRun = try train(plain, source, epochs: 4)
        let cachedRun = try train(cached, source, epochs: 4)
        let (plainLosses, cachedLosses) = (plainRun.losses, cachedRun.losses)
        #expect(plain.featureCache == nil)
        let cache = try #require(cached.featureCache)
        #expect(cache.firstTrainableBlock == 4 && cache.count == 40)
        // The trunk ran on the first epoch's 3 batches only.
        #expect(cache.trunkPasses == 3)
        #expect(cache.trunkSamples == 40 && cached.epochRunsOnCachedFeatures)
        #expect(plainLosses.count == 12 && cachedLosses.count == 12)
        // Epoch 1 computes exactly what the plain path computes.
        #expect(cachedLosses.prefix(3).map(\.bitPattern) == plainLosses.prefix(3).map(\.bitPattern))
        expectSameTraining(plainRun, cachedRun, plain, cached)
        // The frozen trunk did not move.
        #expect(plain.model.stateDict()["layer3.1.conv2.weight"] == cached.model.stateDict()["layer3.1.conv2.weight"])
    }

    /// The vanilla CNN, dropout active in its head, cut below block4 and below the head (the
    /// cache then holds the pooled 256 × 2 × 2 features).
    @Test(arguments: [["block4", "head"], ["head"]])
    func vanillaCachedTrainingMatchesThePlainPath(trainable: [String]) throws {
        func trainer(cacheBytes: Int) throws -> Trainer {
            let model = VanillaCNN(numClasses: 2, dropout: 0.3, seed: 4)
            var config = try OptimizerConfig(parsing: "adam")
            config.learningRate = 1e-3
            let optimizer = try Optimizer(config, parameters: model.namedParameters())
            let trainer = try Trainer(
                model: model, optimizer: optimizer, schedule: ConstantLR(lr: 1e-3),
                trainableBlocks: trainable)
            trainer.featureCacheBytes = cacheBytes
            return trainer
        }
        let source = syntheticSource(count: 24, size: 32, batch: 10)  // batches of 10, 10, 4
        let plain = try trainer(cacheBytes: 0), cached = try trainer(cacheBytes: 1 << 30)
        let plainRun = try train(plain, source, epochs: 4)
        let cachedRun = try train(cached, source, epochs: 4)
        let (plainLosses, cachedLosses) = (plainRun.losses, cachedRun.losses)
        let cache = try #require(cached.featureCache)
        #expect(cache.firstTrainableBlock == (trainable.count == 1 ? 4 : 3))
        #expect(cache.trunkPasses == 3 && cache.trunkSamples == 24)
        #expect(cachedLosses.prefix(3).map(\.bitPattern) == plainLosses.prefix(3).map(\.bitPattern))
        // The four conv biases are found; block4's, trained under a train-mode BatchNorm, is the
        // noise-driven one (frozen blocks keep theirs and are compared exactly).
        #expect(plainRun.biasesBeforeBatchNorm.map(\.biasKey) == (0..<4).map { "features.\($0 * 4).bias" })
        #expect(
            plainRun.biasesBeforeBatchNorm.filter(\.isRoundingNoise).map(\.biasKey)
                == (trainable.contains("block4") ? ["features.12.bias"] : []))
        expectSameTraining(plainRun, cachedRun, plain, cached)
    }

    /// A run resumed from a snapshot — inside the epoch that fills the cache (step 2) or after it
    /// (step 8) — rebuilds exactly the cache the uninterrupted run holds: same losses and
    /// weights, bit for bit, as without the cache.
    @Test(arguments: [2, 8]) func resumingWithTheCacheIsExact(atStep: Int) throws {
        let source = syntheticSource(count: 40, size: 32, batch: 16)
        let straight = try resnetTrainer(cacheBytes: 1 << 30)
        var losses: [Float] = []
        var snapshot: (TrainingPosition, StateDict, StateDict)?
        straight.onStep = { [unowned straight] position, loss, _, _ in
            losses.append(loss)
            if position.globalStep == atStep {
                snapshot = (position, straight.model.stateDict(), straight.optimizer.stateDict())
            }
        }
        try straight.fit(train: source, validation: nil, epochs: 4)
        let (position, weights, optimizerState) = try #require(snapshot)
        #expect(position.batchInEpoch == 2)

        let resumed = try resnetTrainer(cacheBytes: 1 << 30)
        var tail: [Float] = []
        resumed.onStep = { _, loss, _, _ in tail.append(loss) }
        try TrainingCheckpoint(
            model: weights, optimizer: optimizerState, position: position, randomState: [:],
            runConfiguration: RunConfiguration(
                modelId: "resnet18", architecture: "resnet18", weights: nil,
                data: DataSpecification(source: "synthetic", imageSize: 32),
                optimizer: resumed.optimizer.config, schedule: .constant(0.02),
                trainable: ["layer4", "head"], epochs: 4, batchSize: 16, seed: 0),
            attributes: WeightsAttributes(
                modelID: "resnet18", architecture: "resnet18", numClasses: 2,
                inputSize: [3, 32, 32], mean: [0, 0, 0], std: [1, 1, 1])
        )
        .restore(into: resumed)
        try resumed.fit(train: source, validation: nil, epochs: 4)
        #expect(tail.count == 12 - atStep)
        #expect(tail.map(\.bitPattern) == losses.suffix(tail.count).map(\.bitPattern))
        #expect(resumed.model.stateDict() == straight.model.stateDict())
        // The refill ran the trunk on the first epoch's batches only (3), never on later ones.
        #expect(resumed.featureCache?.count == 40 && resumed.featureCache?.trunkPasses == 3)
    }

    @Test func aBudgetTooSmallRecomputesTheRest() throws {
        let source = syntheticSource(count: 40, size: 32, batch: 16)
        // layer3's output at 32² is 256×2×2 floats = 4 KB a sample: room for 10.
        let trainer = try resnetTrainer(cacheBytes: 10 * 4096)
        let losses = try run(trainer, source, epochs: 3)
        let reference = try run(try resnetTrainer(cacheBytes: 0), source, epochs: 3)
        let cache = try #require(trainer.featureCache)
        #expect(cache.count == 10 && cache.bytes == 10 * 4096 && cache.isFull)
        // Epoch 1 runs all 40 images through the trunk; later epochs only the 30 not stored.
        #expect(cache.trunkSamples == 40 + 2 * 30)
        #expect(!trainer.epochRunsOnCachedFeatures)
        #expect(reference.count == losses.count)
        for (a, b) in zip(reference, losses) { #expect(lossesAgree(a, b), "loss \(a) plain, \(b) cached") }
        #expect(
            cache.summary(blockNames: trainer.model.blockNames, samples: 40)
                == "features after layer3 cached for 10 of 40 images (40 KB), its size limit: the other images run through layer3 every epoch"
        )
    }

    @Test func offWhenTheTrunkOrTheDataChange() throws {
        let source = syntheticSource(count: 32, size: 32, batch: 16)
        // BatchNorm of the frozen blocks on batch statistics: the trunk's output depends on the batch.
        let batchStatistics = try resnetTrainer(cacheBytes: 1 << 30, policy: .train)
        _ = try run(batchStatistics, source, epochs: 1)
        #expect(batchStatistics.featureCache == nil)
        // Everything trainable: nothing to cache.
        let full = try resnetTrainer(
            cacheBytes: 1 << 30, trainable: ["stem", "layer1", "layer2", "layer3", "layer4", "head"])
        _ = try run(full, source, epochs: 1)
        #expect(full.featureCache == nil)
        // Random augmentation: a sample is not the same image twice.
        let folder = try ImageFolderFixture.make()
        defer { try? FileManager.default.removeItem(at: folder) }
        let dataset = try ImageFolder(root: folder)
        let augmented = try BatchLoader(
            dataset: dataset, transform: .train(size: 32),
            options: .init(batchSize: 4, workers: 1))
        let fixed = try BatchLoader(
            dataset: dataset, transform: .eval(resize: 36, crop: 32),
            options: .init(batchSize: 4, workers: 1))
        #expect(!augmented.samplesAreDeterministic)
        #expect(fixed.samplesAreDeterministic)
        let trainer = try resnetTrainer(cacheBytes: 1 << 30)
        _ = try run(trainer, augmented, epochs: 1)
        #expect(trainer.featureCache == nil)
    }

    /// Once every sample is cached, later epochs load no image at all; a folder source's ids and
    /// listing agree with its batches.
    @Test func laterEpochsLoadNoImages() throws {
        let folder = try ImageFolderFixture.make()
        defer { try? FileManager.default.removeItem(at: folder) }
        let counting = CountingDataset(try ImageFolder(root: folder))
        let loader = try BatchLoader(
            dataset: counting, transform: .eval(resize: 36, crop: 32),
            options: .init(batchSize: 4, workers: 1))
        let source = loader
        let listing = try #require(source.sampleIdentities(epoch: 1))
        var seen: [[Int]] = []
        for batch in try source.batches(epoch: 1, startingAt: 0).all() { seen.append(batch.ids ?? []) }
        #expect(listing.map(\.ids) == seen)
        #expect(listing.map(\.labels) == listing.map { $0.ids.map(counting.label) })

        let trainer = try resnetTrainer(cacheBytes: 1 << 30)
        let loadsBefore = counting.loads.value
        _ = try run(trainer, source, epochs: 3)
        #expect(counting.loads.value - loadsBefore == counting.count)
        #expect(trainer.featureCache?.count == counting.count)
    }

    /// Once every sample's features are cached, the loader's decoded images are dead weight: the
    /// first epoch served from the feature cache frees them.
    @Test func aCompleteCacheFreesTheDecodedImages() throws {
        let folder = try ImageFolderFixture.make()
        defer { try? FileManager.default.removeItem(at: folder) }
        let loader = try BatchLoader(
            dataset: try ImageFolder(root: folder), transform: .eval(resize: 36, crop: 32),
            options: .init(batchSize: 4, workers: 1, cacheBytes: 1 << 20))
        let source = loader
        let trainer = try resnetTrainer(cacheBytes: 1 << 30)
        _ = try run(trainer, source, epochs: 1)
        #expect(loader.cache?.count == 8)
        #expect(!trainer.epochRunsOnCachedFeatures)
        _ = try run(trainer, source, epochs: 2)
        #expect(trainer.epochRunsOnCachedFeatures)
        #expect(loader.cache?.count == 0 && loader.cache?.bytes == 0)
    }

    /// Gradual unfreezing moves the lowest trainable block: the cache is rebuilt for the new cut.
    @Test func gradualUnfreezingRebuildsTheCache() throws {
        let source = syntheticSource(count: 32, size: 32, batch: 16)
        let trainer = try resnetTrainer(cacheBytes: 1 << 30)
        trainer.gradualUnfreezeEvery = 2
        var cuts: [Int] = [], passes: [Int] = []
        trainer.onEpoch = { _, t in
            cuts.append(t.featureCache?.firstTrainableBlock ?? -1)
            passes.append(t.featureCache?.trunkPasses ?? -1)
        }
        var losses: [Float] = []
        trainer.onStep = { _, loss, _, _ in losses.append(loss) }
        try trainer.fit(train: source, validation: nil, epochs: 4)
        #expect(cuts == [4, 4, 3, 3])
        // Each cache fills in its cut's first epoch (2 batches) and serves the next.
        #expect(passes == [2, 2, 2, 2])
        #expect(
            trainer.featureCache?.summary(blockNames: trainer.model.blockNames, samples: 32)
                == "features after layer2 cached for 32 of 32 images (256 KB): later epochs run only layer3, layer4, head"
        )

        let plain = try resnetTrainer(cacheBytes: 0)
        plain.gradualUnfreezeEvery = 2
        let plainRun = try train(plain, source, epochs: 4)
        expectSameTraining(plainRun, (losses, []), plain, trainer)
    }
}

/// A dataset that counts image loads.
final class CountingDataset: Dataset, @unchecked Sendable {
    let base: ImageFolder
    let loads = Counter()
    init(_ base: ImageFolder) { self.base = base }
    var count: Int { base.count }
    var classNames: [String] { base.classNames }
    func label(_ index: Int) -> Int { base.label(index) }
    func loadImage(_ index: Int, options: JPEGDecodeOptions) throws -> RGB8Image {
        loads.increment()
        return try base.loadImage(index, options: options)
    }
    var decodesJPEG: Bool { true }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    var value: Int { lock.withLock { n } }
    func increment() { lock.withLock { n += 1 } }
}

/// A tiny JPEG folder: 2 classes × 4 photos of 40×48.
enum ImageFolderFixture {
    static func make() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("graft-cache-\(UUID().uuidString)")
        var rng = RandomGenerator(seed: 17)
        for (c, name) in ["cats", "dogs"].enumerated() {
            let dir = root.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            for i in 0..<4 {
                let pixels = (0..<(40 * 48 * 3)).map { _ in UInt8(truncatingIfNeeded: Int(rng.next() % 128) + c * 100) }
                let data = try JPEG.encode(RGB8Image(width: 40, height: 48, pixels: pixels), quality: 90)
                try data.write(to: dir.appendingPathComponent("\(i).jpg"))
            }
        }
        return root
    }
}
