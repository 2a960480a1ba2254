import Foundation
import GraftSupport
import GraftTensor
import GraftTraining

/// How an ensemble combines its members.
///
/// - `probs`: the mean of the members' softmax probabilities (snapshot ensembles, FGE).
/// - `logits`: the softmax of the members' mean logits.
/// - `vote`: each member votes for its arg-max class; the class with most votes wins. A tie goes
///   to the tied class with the largest summed probability, then to the lowest class index.
/// - `swa`: one model whose weights are the members' mean, with BatchNorm statistics recomputed
///   on the training data (stochastic weight averaging).
public enum EnsembleMethod: String, CaseIterable, Sendable, Codable {
    case probs, logits, vote, swa

    /// The methods that combine predictions (everything but `swa`).
    public var combinesPredictions: Bool { self != .swa }

    /// Parses `probs`, `logits`, `vote`, `swa` or `all`, comma-separated.
    /// - Throws: `EnsembleError.invalidMethod` naming the word.
    public static func parseList(_ text: String) throws -> [EnsembleMethod] {
        var result: [EnsembleMethod] = []
        for word in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) {
            if word == "all" {
                for m in allCases where !result.contains(m) { result.append(m) }
                continue
            }
            let alias = [
                "prob": "probs", "probabilities": "probs", "logit": "logits", "votes": "vote", "majority": "vote",
            ]
            guard let m = EnsembleMethod(rawValue: alias[word] ?? word) else { throw EnsembleError.invalidMethod(word) }
            if !result.contains(m) { result.append(m) }
        }
        guard !result.isEmpty else { throw EnsembleError.invalidMethod(text) }
        return result
    }
}

/// One checkpoint taking part in an ensemble: a catalog checkpoint (its id set) or a file.
public struct EnsembleMember: Sendable, Equatable, Codable {
    /// Short label for tables and plots (`ckpt 12`, a file name).
    public var name: String
    public var checkpointId: Int64?
    /// A weights file or training checkpoint (HDF5); both hold the model's state dict.
    public var url: URL
    public var epoch: Int?
    public var cycleIndex: Int?

    public init(name: String, checkpointId: Int64? = nil, url: URL, epoch: Int? = nil, cycleIndex: Int? = nil) {
        self.name = name
        self.checkpointId = checkpointId
        self.url = url
        self.epoch = epoch
        self.cycleIndex = cycleIndex
    }
}

/// Accuracy and loss of one prediction set.
public struct EnsembleScore: Sendable, Equatable, Codable {
    public var accuracy: Double
    /// Mean negative log-likelihood of the combined probabilities; nil for votes alone.
    public var loss: Double?
    public var correct: Int

    public init(accuracy: Double, loss: Double?, correct: Int) {
        self.accuracy = accuracy
        self.loss = loss
        self.correct = correct
    }
}

/// What `graft ensemble` reports: every member on its own, and each method's ensemble.
public struct EnsembleEvaluation: Sendable, Codable {
    /// One member evaluated on its own.
    public struct Member: Sendable, Codable {
        /// The checkpoint.
        public var member: EnsembleMember
        public var accuracy: Double
        public var loss: Double
    }

    /// One method's combination of the members, against the best single member.
    public struct Outcome: Sendable, Codable {
        /// `probs`, `logits`, `vote`, `swa`, with `+greedy` for a greedy selection.
        public var label: String
        public var method: EnsembleMethod
        public var greedy: Bool
        /// Indices into `members` of the members used, in the order they were added.
        public var selected: [Int]
        public var accuracy: Double
        public var loss: Double?
        /// Accuracy of the best single member.
        public var bestSingleAccuracy: Double
        /// `accuracy - bestSingleAccuracy`.
        public var gain: Double { accuracy - bestSingleAccuracy }
        /// Ensemble accuracy after each member was added (`selected` order); SWA has only the last.
        public var accuracyBySize: [Double]
    }

    public var members: [Member]
    public var outcomes: [Outcome]
    /// Validation samples evaluated.
    public var samples: Int
    public var classes: Int
    /// Index into `members` of the best single member (accuracy, then loss).
    public var bestMember: Int
    /// Training batches used to recompute BatchNorm statistics for SWA (0: none or no BatchNorm).
    public var batchNormBatches: Int
    /// How differently the members predict.
    public var diversity: EnsembleDiversity
    /// With test-time augmentation (which `members` and `outcomes` then include), the same
    /// figures without it and the model time of each; nil without augmentation.
    public var testTimeAugmentation: AugmentationComparison? = nil

    /// The members and outcomes without test-time augmentation, and what the augmentation costs.
    public struct AugmentationComparison: Sendable, Codable {
        /// The augmentation `members` and `outcomes` were evaluated with.
        public var augmentation: TestTimeAugmentation
        /// Each member's accuracy without augmentation, in the order of `members`.
        public var memberAccuracy: [Double]
        /// Each member's loss without augmentation, in the order of `members`.
        public var memberLoss: [Double]
        /// The best single member without augmentation (accuracy, then loss).
        public var bestMember: Int
        /// Each outcome's accuracy without augmentation, in the order of `outcomes`.
        public var outcomeAccuracy: [Double]
        /// Each outcome's loss without augmentation, in the order of `outcomes`.
        public var outcomeLoss: [Double?]
        /// Model seconds per image and model without augmentation (decoding excluded).
        public var secondsPerImage: Double
        /// Model seconds per image and model with augmentation (decoding excluded).
        public var augmentedSecondsPerImage: Double
        /// How many times the inference time without augmentation it takes.
        public var costFactor: Double { augmentedSecondsPerImage / max(secondsPerImage, .leastNonzeroMagnitude) }
    }
}

/// Why an ensemble cannot be built or evaluated, naming the run, checkpoint, file or value.
public enum EnsembleError: LocalizedError, Equatable {
    case invalidMethod(String)
    case noMembers(String)
    /// Neither a run nor explicit checkpoints were named.
    case noMemberSource
    /// A run (nil: the named checkpoints) has no checkpoint of the kind asked for.
    case runHasNoMembers(run: Int64?, minimaOnly: Bool)
    /// A plain weights file carries no run configuration, so no data to evaluate it on.
    case needsData(path: String)
    case incompatibleMember(path: String, reason: String, cause: ErrorCause? = nil)
    case mismatchedKey(path: String, key: String, reason: String)
    case emptyValidation(String)
    case noTrainingData
    case invalidMomentum(layer: String)
    case unknownCheckpoint(run: Int64, id: Int64)
    case unsupportedSplit(String, source: String)
    /// Test-time augmentation's views do not line up with the validation images.
    case augmentationViews(String)

    public var errorDescription: String? {
        switch self {
        case .invalidMethod(let word):
            "unknown ensemble method '\(word)' (expected probs, logits, vote, swa or all)"
        case .noMembers(let why):
            "no ensemble members: \(why)"
        case .noMemberSource:
            "no ensemble members: name a run or checkpoints"
        case .runHasNoMembers(let run, let minimaOnly):
            "no ensemble members: run \(run.map(String.init) ?? "?") has no \(minimaOnly ? "checkpoints at a schedule minimum" : "checkpoints")"
        case .needsData(let path):
            "no ensemble members: \(path) is a plain weights file, with no data of its own to evaluate it on"
        case .incompatibleMember(let path, let reason, let cause):
            "\(path): cannot join the ensemble: \(reason)" + (cause.map { ": \($0)" } ?? "")
        case .mismatchedKey(let path, let key, let reason):
            "\(path): weight '\(key)' cannot be averaged with the other members: \(reason)"
        case .emptyValidation(let what):
            "\(what) has no images to evaluate the ensemble on"
        case .noTrainingData:
            "SWA needs training images to recompute BatchNorm statistics, and the training split is empty"
        case .invalidMomentum(let layer):
            "BatchNorm layer '\(layer)' has momentum 0; its statistics cannot be recomputed"
        case .unknownCheckpoint(let run, let id):
            "checkpoint \(id) does not belong to run \(run)"
        case .unsupportedSplit(let split, let source):
            "split '\(split)' is not available for \(source) (use val, or test with fashion-mnist)"
        case .augmentationViews(let why):
            "test-time augmentation: \(why)"
        }
    }
}
