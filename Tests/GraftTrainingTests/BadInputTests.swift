import Foundation
import GraftCatalog
import GraftData
import GraftModels
import GraftNN
import GraftOptim
import GraftTensor
@testable import GraftTraining
import GraftWeights
import GraftZoo
import Testing
import TestSupport

/// Bad values and bad files: each gives an error that names what is wrong, before anything is
/// trained or saved, and a loader error reaches the caller instead of ending an epoch early.
@Suite struct BadInputTests {
    static func configuration(model: String = "vanilla-cnn", imageSize: Int = 32) throws -> RunConfiguration {
        RunConfiguration(
            modelId: model, architecture: model, weights: nil,
            data: DataSpecification(source: "/nonexistent", imageSize: imageSize),
            optimizer: try OptimizerConfig(parsing: "sgd"), schedule: .constant(0.01),
            trainable: ["head"], epochs: 1, batchSize: 4, seed: 0)
    }

    /// Breaks one setting of a configuration; returns the field the error must name.
    static func breakSetting(_ index: Int, of c: inout RunConfiguration) -> String {
        switch index {
        case 0: c.dropout = 1; return "dropout"
        case 1: c.dropout = 1.5; return "dropout"
        case 2: c.dropout = -0.1; return "dropout"
        case 3: c.epochs = 0; return "epochs"
        case 4: c.batchSize = 0; return "batch size"
        case 5: c.gradualUnfreezeEvery = 0; return "gradual unfreeze"
        case 6: c.data.validationFraction = 1; return "validation fraction"
        case 7: c.data.trainPerClass = 0; return "train per class"
        case 8: c.blockLearningRateFactors = ["layer4": .nan]; return "lr factor of layer4"
        default: c.data.std = [0.2, 0, 0.2]; return "std"
        }
    }

    @Test("every out-of-range setting is refused, naming the field and the value", arguments: 0..<10)
    func rangesAreChecked(setting: Int) throws {
        var configuration = try Self.configuration()
        try configuration.validate()
        let field = Self.breakSetting(setting, of: &configuration)
        #expect { try configuration.validate() } throws: { error in
            guard case TrainingError.invalidConfiguration(let named, _, _) = error else { return false }
            return named == field && error.localizedDescription.hasPrefix(field)
        }
        // `prepare` checks before it touches the data (the source here does not exist).
        #expect(throws: TrainingError.self) { _ = try TrainingRun.prepare(configuration) }
    }

    @Test("an image too small for the architecture is refused before the model runs")
    func minimumInputSize() throws {
        #expect(Architecture.vanillaCNN.minimumInputSize == 16 && Architecture.resnet34.minimumInputSize == 32)
        #expect(throws: ModelError.inputTooSmall(architecture: "vanilla-cnn", size: 15, minimum: 16)) {
            _ = try TrainingRun.prepare(try Self.configuration(imageSize: 15))
        }
        #expect(throws: ModelError.inputTooSmall(architecture: "resnet18", size: 31, minimum: 32)) {
            _ = try TrainingRun.prepare(try Self.configuration(model: "resnet18", imageSize: 31))
        }
        // The smallest accepted size runs through the whole vanilla CNN.
        let model = VanillaCNN(numClasses: 3)
        model.eval()
        #expect(model(Tensor(shape: [1, 3, 16, 16], repeating: 0.5)).shape == [1, 3])
    }

    @Test("the normalisation comes from the card once and is recorded in the configuration")
    func normalisationIsResolvedOnce() throws {
        let configuration = try Self.configuration()
        #expect(configuration.data.mean == nil)
        let resolved = try TrainingRun.resolvingPreprocessing(configuration)
        let card = try Zoo.shipped().card(id: "vanilla-cnn")
        #expect(resolved.data.mean == card.mean.map(Float.init))
        #expect(resolved.data.std == card.std.map(Float.init))
        // Given numbers are kept, and no zoo is consulted for them.
        var given = configuration
        given.data.mean = [0.1, 0.2, 0.3]
        given.data.std = [0.4, 0.5, 0.6]
        let kept = try TrainingRun.resolvingPreprocessing(
            given, zoo: { throw WeightsError.io(path: "zoo", reason: "not used") })
        #expect(kept.data.mean == [0.1, 0.2, 0.3] && kept.data.std == [0.4, 0.5, 0.6])
        // No card and no numbers: an error naming the model, never a silent 0.5.
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent(
            "graft-empty-zoo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        #expect(throws: ZooError.unknownModel(id: "vanilla-cnn", known: [])) {
            _ = try TrainingRun.resolvingPreprocessing(configuration, zoo: { try Zoo.load(directory: empty) })
        }
        // Data sources refuse to guess either.
        #expect(throws: DataError.self) { _ = try DataSources.make(configuration.data, batchSize: 4, seed: 0) }
    }

    /// Images of two sizes: the loader cannot stack them into one batch.
    struct MixedSizes: Dataset {
        var classNames: [String] { ["a", "b"] }
        var count: Int { 8 }
        func label(_ index: Int) -> Int { index % 2 }
        func loadImage(_ index: Int, options: JPEGDecodeOptions) throws -> RGB8Image {
            let side = index < 4 ? 16 : 20
            return RGB8Image(width: side, height: side) { p in
                for i in 0..<(side * side * 3) { p[i] = UInt8(truncatingIfNeeded: i &* 7 &+ index) }
            }
        }
        func itemName(_ index: Int) -> String { "image\(index)" }
    }

    @Test("a loader error reaches the trainer instead of ending the epoch early")
    func loaderErrorsPropagate() throws {
        let transform = try TransformPipeline(ops: [], mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5])
        let loader = try BatchLoader(
            dataset: MixedSizes(), transform: transform,
            options: .init(batchSize: 8, shuffle: false))
        let source = loader
        #expect(throws: DataError.self) { _ = try source.batches(epoch: 0, startingAt: 0).next() }

        let model = VanillaCNN(numClasses: 2)
        let optimizer = try Optimizer(try OptimizerConfig(parsing: "sgd"), parameters: model.namedParameters())
        let trainer = try Trainer(
            model: model, optimizer: optimizer, schedule: ConstantLR(lr: 0.01),
            trainableBlocks: model.blockNames, batchNormPolicy: .eval)
        #expect { try trainer.fit(train: source, validation: nil, epochs: 1) } throws: { error in
            error.localizedDescription.contains("mixes 16x16 and 20x20")
        }
        #expect(trainer.position.history.isEmpty, "no epoch may be recorded as finished")
    }

    @Test("predict reports each unreadable photo and predicts the others")
    func predictGoesOnPastBadPhotos() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "graft-predict-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = VanillaCNN(numClasses: 3)
        let weights = directory.appendingPathComponent("v.h5")
        try WeightsFile.write(
            model.stateDict(),
            attributes: WeightsAttributes(
                modelID: "vanilla-cnn", architecture: "vanilla-cnn", numClasses: 3, classNames: ["x", "y", "z"],
                inputSize: [3, 32, 32], mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]), to: weights)
        let truncated = directory.appendingPathComponent("truncated.jpg")
        try Data(try Data(contentsOf: Fixtures.url("images/flower_baseline420.jpg")).prefix(3000)).write(to: truncated)
        let good = Fixtures.url("images/flower.jpg"), other = Fixtures.url("images/china.jpg")

        let predictor = try Predictor(weights: weights, card: nil)
        let (predictions, failures) = try predictor.predictEach([good, truncated, other], top: 2)
        #expect(predictions.map(\.image) == [good.path, other.path])
        #expect(failures.map(\.image) == [truncated.path])
        #expect(failures.first?.error.localizedDescription.contains("truncated.jpg") == true)
        // The same photos alone give the same probabilities.
        let alone = try predictor.predict([good, other], top: 2)
        #expect(alone.map { $0.top.map(\.probability) } == predictions.map { $0.top.map(\.probability) })
    }

    @Test("checkpoints record the run's own configuration with the resolved normalisation")
    func checkpointsRecordTheResolvedConfiguration() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("graft-resolved-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        for (folder, photo) in [("a", "flower_444"), ("b", "flower_baseline420")] {
            try FileManager.default.createDirectory(
                at: dir.appendingPathComponent("ds/\(folder)"), withIntermediateDirectories: true)
            for i in 0..<4 {
                try FileManager.default.copyItem(
                    at: Fixtures.url("images/\(photo).jpg"),
                    to: dir.appendingPathComponent("ds/\(folder)/\(i).jpg"))
            }
        }
        var configuration = try Self.configuration(imageSize: 16)
        configuration.data.source = dir.appendingPathComponent("ds").path
        configuration.data.validationFraction = 0.25
        configuration.trainable = ["block1", "block2", "block3", "block4", "head"]
        let catalog = try Catalog.open(at: dir.appendingPathComponent("catalog.sqlite").path)
        // A length in epochs, resolved once the data is read.
        configuration.schedule = .triangular(1e-3, 6e-3, stepSize: .epochs(1))
        let prepared = try TrainingRun.prepare(configuration, splitDirectory: catalog.splitsDirectory)
        let run = TrainingRun(configuration: configuration, catalog: catalog)
        run.showProgress = false
        let summary = try run.start(prepared: prepared)
        let saved = try #require(
            try catalog.checkpoints(filter: CheckpointFilter(run: summary.runId)).first?.checkpoint)
        let recorded = try TrainingCheckpoint.read(try catalog.verifiedFile(for: saved)).runConfiguration
        let card = try Zoo.shipped().card(id: "vanilla-cnn")
        #expect(recorded.schedule == configuration.schedule)
        #expect(recorded.data.mean == card.mean.map(Float.init) && recorded.data.std == card.std.map(Float.init))
        #expect(saved.lr < 6e-3, "the checkpoint's learning rate comes from the run's schedule")
    }
}
