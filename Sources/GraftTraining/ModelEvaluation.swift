import Foundation
import GraftCatalog
import GraftData
import GraftModels
import GraftNN
import GraftSupport
import GraftTensor
import GraftWeights
import GraftZoo

/// A trained model to score: its weights in its architecture, its class names, and how its
/// images are prepared (size, normalisation), from a catalog checkpoint or a weights file.
public struct ModelUnderEvaluation {
    /// The model in eval mode: one network, or an ensemble's members averaged (`AveragingEnsemble`).
    public var model: Module
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
    /// The catalog ensemble scored; nil for one model.
    public var ensembleId: Int64? = nil

    /// Catalog checkpoint `id`, after verifying its file; with `ema`, its weight EMA (`WeightEMA`)
    /// instead of its trained weights.
    /// - Throws: `CatalogError.notFound`; a missing or altered file; weights that do not fit;
    ///   `TrainingError.noEMA` when `ema` is asked of a checkpoint without one.
    public static func checkpoint(_ id: Int64, in catalog: Catalog, ema: Bool = false) throws -> ModelUnderEvaluation {
        let record = try catalog.checkpoint(id: id)
        let file = try catalog.verifiedFile(for: record)
        let saved = try TrainingCheckpoint.read(file)
        let config = saved.runConfiguration
        let model = try Architecture(named: config.architecture).make(numClasses: saved.attributes.numClasses)
        if ema {
            guard let average = saved.ema else { throw TrainingError.noEMA(path: file.path) }
            _ = try model.load(average.state, strict: true)
        } else {
            _ = try model.load(saved.model, strict: true)
        }
        return ModelUnderEvaluation(
            model: model, classNames: saved.attributes.classNames, data: config.data, run: config,
            name: "\(ema ? "weight EMA of " : "")checkpoint \(id) (run \(record.runId), epoch \(record.epoch))",
            checkpointId: id, runId: record.runId)
    }

    /// Catalog ensemble `id` (a `graft ensemble` row) as one model: its members' probabilities
    /// averaged (`probs`) or their logits (`logits`), whatever suffix (`+greedy`, `+tta(…)`) the
    /// method has; TTA is the evaluation's own choice.
    /// - Throws: `TrainingError.invalidConfiguration` for a `vote` or `swa` row (an SWA model is a
    ///   weights file: `graft ensemble --output FILE`), or members that differ in classes or
    ///   preprocessing; `CatalogError.notFound` for a member no longer in the catalog.
    public static func ensemble(_ id: Int64, in catalog: Catalog) throws -> ModelUnderEvaluation {
        let stored = try catalog.ensemble(id: id).ensemble
        let method = stored.method.split(separator: "+").first.map(String.init) ?? stored.method
        func refuse(_ reason: String) -> TrainingError {
            .invalidConfiguration(field: "ensemble", value: "\(id) (\(stored.method))", reason: reason)
        }
        let average: AveragingEnsemble.Average
        switch method {
        case "probs": average = .probabilities
        case "logits": average = .logits
        default:
            throw refuse(
                "only probs and logits ensembles are scored as one model; an SWA model is a weights file (graft ensemble --output FILE, then graft evaluate --weights FILE)"
            )
        }
        guard !stored.memberCheckpointIds.isEmpty else { throw refuse("it has no members") }
        let members = try stored.memberCheckpointIds.map { try checkpoint($0, in: catalog) }
        let first = members[0]
        for member in members.dropFirst()
        where member.classNames != first.classNames || member.data.imageSize != first.data.imageSize
            || member.data.mean != first.data.mean || member.data.std != first.data.std
        {
            throw refuse("\(member.name) differs from \(first.name) in its classes or preprocessing")
        }
        let ids = stored.memberCheckpointIds.map(String.init).joined(separator: ", ")
        return ModelUnderEvaluation(
            model: AveragingEnsemble(members.map(\.model), average: average), classNames: first.classNames,
            data: first.data, run: first.run, name: "ensemble \(id) (\(method) of checkpoints \(ids))",
            runId: stored.runId, ensembleId: id)
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
            runId: runId, checkpointId: checkpointId, ensembleId: ensembleId,
            weightsPath: weightsFile?.standardizedFileURL.path,
            weightsSha256: digest?.hex, model: name, dataKind: kind, dataPath: path, isTest: data.isTest,
            tta: augmentation?.rawValue, images: metrics.count, accuracy: metrics.accuracy,
            topK: metrics.topK.map { EvaluationTopK(k: $0.k, accuracy: $0.accuracy) }, macroF1: metrics.macroF1,
            logLoss: metrics.logLoss, ece: metrics.expectedCalibrationError, seconds: seconds, details: details)
    }
}

/// An ensemble's members as one model for scoring, in eval mode. Its output is the mean of the
/// members' logits (`logits`), or the logarithm of the mean of their probabilities
/// (`probabilities`), whose softmax is that mean: every metric of one model applies unchanged.
public final class AveragingEnsemble: Module {
    /// What is averaged.
    public enum Average: Sendable {
        /// The members' softmax probabilities (`graft ensemble --method probs`).
        case probabilities
        /// The members' logits (`--method logits`).
        case logits
    }

    /// The members, in the ensemble's order.
    public let members: [Module]
    /// What is averaged.
    public let average: Average

    /// The ensemble of `members`, averaging `average`.
    public init(_ members: [Module], average: Average) {
        precondition(!members.isEmpty, "an ensemble needs a member")
        self.members = members
        self.average = average
    }

    public override var children: [(name: String, module: Module)] {
        members.enumerated().map { (String($0.offset), $0.element) }
    }

    public override func forward(_ input: Tensor, mode: GradientMode) -> Tensor {
        var sum: Tensor?
        for member in members {
            let output = member.forward(input, mode: .none)
            let term = average == .logits ? output : CrossEntropy.softmax(output)
            if sum == nil {
                sum = term
            } else {
                let s = sum!.mutablePointer(), t = term.pointer
                for i in 0..<term.count { s[i] += t[i] }
            }
        }
        var mean = sum!
        let m = mean.mutablePointer(), n = Float(members.count)
        for i in 0..<mean.count {
            m[i] /= n
            if average == .probabilities { m[i] = logf(max(m[i], .leastNormalMagnitude)) }
        }
        return mean
    }
}
