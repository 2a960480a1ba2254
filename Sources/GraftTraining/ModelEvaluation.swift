import Foundation
import GraftCatalog
import GraftData
import GraftModels
import GraftNN
import GraftSupport
import GraftWeights
import GraftZoo

/// A trained model to score: its weights in its architecture, its class names, and how its
/// images are prepared (size, normalisation), from a catalog checkpoint or a weights file.
public struct ModelUnderEvaluation {
    public var model: any BlockStructured
    public var classNames: [String]
    /// Image size and normalisation; its `source` is the data the model was trained on.
    public var data: DataSpecification
    /// The run the checkpoint comes from, for its validation split; nil for a weights file.
    public var run: RunConfiguration?
    /// What is scored, in words: `checkpoint 12 (run 3, epoch 8)`.
    public var name: String
    /// The catalog checkpoint scored; nil for a weights file.
    public var checkpointId: Int64? = nil
    /// The run of that checkpoint.
    public var runId: Int64? = nil
    /// The weights file scored; nil for a checkpoint.
    public var weightsFile: URL? = nil

    /// Catalog checkpoint `id`, after verifying its file.
    /// - Throws: `CatalogError.notFound`; a missing or altered file; weights that do not fit.
    public static func checkpoint(_ id: Int64, in catalog: Catalog) throws -> ModelUnderEvaluation {
        let record = try catalog.checkpoint(id: id)
        let saved = try TrainingCheckpoint.read(try catalog.verifiedFile(for: record))
        let config = saved.runConfiguration
        let model = try Architecture(named: config.architecture).make(numClasses: saved.attributes.numClasses)
        _ = try model.load(saved.model, strict: true)
        return ModelUnderEvaluation(
            model: model, classNames: saved.attributes.classNames, data: config.data, run: config,
            name: "checkpoint \(id) (run \(record.runId), epoch \(record.epoch))", checkpointId: id,
            runId: record.runId)
    }

    /// A weights file (a converted, exported or SWA model): its architecture, classes, input size
    /// and normalisation come from the file, else from `card`.
    public static func weights(_ url: URL, card: ModelCard? = nil) throws -> ModelUnderEvaluation {
        let (state, attributes) = try WeightsFile.read(url)
        let model = try Architecture(named: card?.modelArchitecture ?? attributes.architecture)
            .make(numClasses: attributes.numClasses)
        _ = try model.load(state, strict: true)
        var data = DataSpecification(
            source: "", imageSize: attributes.inputSize.last ?? card?.inputSize.last ?? 224)
        data.mean = (attributes.mean.isEmpty ? card?.mean ?? [] : attributes.mean).map(Float.init)
        data.std = (attributes.std.isEmpty ? card?.std ?? [] : attributes.std).map(Float.init)
        return ModelUnderEvaluation(
            model: model, classNames: attributes.classNames, data: data, run: nil, name: url.lastPathComponent,
            weightsFile: url)
    }
}

/// The labelled images a model is scored on.
public enum EvaluationData: Sendable, Equatable {
    /// The validation split of the checkpoint's run: the split that chose the checkpoint.
    case validationSplit
    /// Every image of an ImageFolder whose classes are the model's: a held-out test folder.
    case folder(URL)
    /// Fashion-MNIST's 10,000 test images (the model's classes of them).
    case fashionMNISTTest

    /// Whether these images were kept from every choice (checkpoint, advice, learning rate), so
    /// that their figures are test figures.
    public var isTest: Bool { self != .validationSplit }
}

extension ModelUnderEvaluation {
    /// The batches of `data`, labelled by this model's classes.
    /// - Throws: `TrainingError.invalidConfiguration` for a validation split of a weights file;
    ///   `DataError.classMismatch` for a folder of other classes.
    public func batches(
        of data: EvaluationData, splitDirectory: URL?, batchSize: Int
    ) throws -> BatchSource {
        var spec = self.data
        switch data {
        case .validationSplit:
            guard let run else {
                throw TrainingError.invalidConfiguration(
                    field: "data", value: name, reason: "a weights file has no validation split; give a folder")
            }
            return try DataSources.make(run.data, batchSize: batchSize, seed: run.seed, splitDirectory: splitDirectory)
                .validation
        case .folder(let url):
            spec.source = url.path
            return try DataSources.wholeFolder(spec, classNames: classNames, batchSize: batchSize)
        case .fashionMNISTTest:
            spec.source = DataSpecification.fashionMNIST
            spec.classes = classNames
            return try DataSources.fashionMNISTTest(spec, batchSize: batchSize)
        }
    }
}

extension ModelUnderEvaluation {
    /// The catalog row of one evaluation of this model: what was scored (the checkpoint, or the
    /// weights file with its SHA-256), the data and its role, the figures and the full metrics.
    /// - Parameters:
    ///   - data: the images scored.
    ///   - metrics: what was measured.
    ///   - details: the stored metrics with the mistakes (`EvaluationDetails.init(_:mistakes:source:thumbnailSide:)`).
    ///   - augmentation: the test-time augmentation used.
    ///   - seconds: how long the evaluation took.
    /// - Throws: the error of reading the weights file for its digest.
    public func evaluationRecord(
        of data: EvaluationData, metrics: ClassificationMetrics, details: EvaluationDetails,
        augmentation: TestTimeAugmentation?, seconds: Double
    ) throws -> EvaluationRecord {
        let digest = try weightsFile.map { try SHA256.hexAndSize(of: $0) }
        let (kind, path): (EvaluationDataKind, String?) =
            switch data {
            case .validationSplit: (.validation, nil)
            case .folder(let url): (.folder, url.standardizedFileURL.path)
            case .fashionMNISTTest: (.fashionMNISTTest, nil)
            }
        return EvaluationRecord(
            runId: runId, checkpointId: checkpointId, weightsPath: weightsFile?.standardizedFileURL.path,
            weightsSha256: digest?.hex, model: name, dataKind: kind, dataPath: path, isTest: data.isTest,
            tta: augmentation?.rawValue, images: metrics.count, accuracy: metrics.accuracy,
            topK: metrics.topK.map { EvaluationTopK(k: $0.k, accuracy: $0.accuracy) }, macroF1: metrics.macroF1,
            logLoss: metrics.logLoss, ece: metrics.expectedCalibrationError, seconds: seconds, details: details)
    }
}
