import Foundation

/// Which labelled images an evaluation scored.
public enum EvaluationDataKind: String, Codable, Sendable, CaseIterable {
    /// The validation split of the checkpoint's run: the split that chose the checkpoint.
    case validation
    /// Every image of an ImageFolder: a held-out test folder.
    case folder
    /// Fashion-MNIST's test set.
    case fashionMNISTTest = "fashion-mnist-test"
}

/// One `graft evaluate`: what was scored (a checkpoint, a weights file, or an ensemble), on which
/// images, its headline figures, and every metric as JSON (`details`). Figures on a test set
/// (`isTest`) are for reading only: nothing that chooses a checkpoint, a member or a learning
/// rate reads this table.
public struct EvaluationRecord: IdentifiedCatalogRecord, Identifiable, Equatable {
    /// The table.
    public static let databaseTableName = "evaluation"
    /// The row id (`graft report --evaluation ID`); nil before it is stored.
    public var id: Int64?
    /// The run of the scored checkpoint; nil for a weights file.
    public var runId: Int64?
    /// The scored checkpoint; nil for a weights file (or once the checkpoint is pruned).
    public var checkpointId: Int64?
    /// The scored ensemble, when an ensemble was evaluated.
    public var ensembleId: Int64?
    /// The scored weights file (stored like every catalog path) when no checkpoint was scored.
    public var weightsPath: String?
    /// The SHA-256 of that file when it was scored.
    public var weightsSha256: String?
    /// What was scored, in words (`checkpoint 12 (run 3, epoch 8)`).
    public var model: String
    /// Which images were scored.
    public var dataKind: EvaluationDataKind
    /// The folder scored, for `folder`; nil otherwise.
    public var dataPath: String?
    /// True for images kept from every choice (a test folder, Fashion-MNIST's test set).
    public var isTest: Bool
    /// The test-time augmentation (`flip`), nil for none.
    public var tta: String?
    /// Images scored.
    public var images: Int
    /// Top-1 accuracy.
    public var accuracy: Double
    /// Top-k accuracies (JSON), k = 1 included.
    public var topK: [EvaluationTopK]
    /// The unweighted mean of the per-class F1.
    public var macroF1: Double
    /// Mean negative log-likelihood of the true class (natural log).
    public var logLoss: Double
    /// Expected calibration error over the reliability bins of `details`.
    public var ece: Double
    /// How long the evaluation took.
    public var seconds: Double
    /// Per-class scores, confusion matrix, reliability bins and the most confident mistakes
    /// (stored as JSON in the `metrics` column).
    public var details: EvaluationDetails
    /// When it was recorded.
    public var createdAt: Date

    enum CodingKeys: String, CodingKey {
        case id, runId, checkpointId, ensembleId, weightsPath, weightsSha256, model, dataKind, dataPath, isTest, tta
        case images, accuracy, topK, macroF1, logLoss, ece, seconds
        case details = "metrics"
        case createdAt
    }

    /// - Parameters:
    ///   - id: nil for a new row.
    ///   - runId: the run of the scored checkpoint.
    ///   - checkpointId: the scored checkpoint.
    ///   - ensembleId: the scored ensemble.
    ///   - weightsPath: the scored weights file when no checkpoint was scored.
    ///   - weightsSha256: that file's SHA-256.
    ///   - model: what was scored, in words.
    ///   - dataKind: which images.
    ///   - dataPath: the folder, for `.folder`.
    ///   - isTest: whether the images are a test set.
    ///   - tta: the test-time augmentation, nil for none.
    ///   - images: images scored.
    ///   - accuracy: top-1 accuracy.
    ///   - topK: top-k accuracies.
    ///   - macroF1: unweighted mean of the per-class F1.
    ///   - logLoss: mean negative log-likelihood.
    ///   - ece: expected calibration error.
    ///   - seconds: how long the evaluation took.
    ///   - details: the full metrics.
    ///   - createdAt: when it was recorded.
    public init(
        id: Int64? = nil, runId: Int64? = nil, checkpointId: Int64? = nil, ensembleId: Int64? = nil,
        weightsPath: String? = nil, weightsSha256: String? = nil, model: String, dataKind: EvaluationDataKind,
        dataPath: String? = nil, isTest: Bool, tta: String? = nil, images: Int, accuracy: Double,
        topK: [EvaluationTopK], macroF1: Double, logLoss: Double, ece: Double, seconds: Double,
        details: EvaluationDetails, createdAt: Date = Date()
    ) {
        self.id = id; self.runId = runId; self.checkpointId = checkpointId; self.ensembleId = ensembleId
        self.weightsPath = weightsPath; self.weightsSha256 = weightsSha256; self.model = model
        self.dataKind = dataKind; self.dataPath = dataPath; self.isTest = isTest; self.tta = tta
        self.images = images; self.accuracy = accuracy; self.topK = topK; self.macroF1 = macroF1
        self.logLoss = logLoss; self.ece = ece; self.seconds = seconds; self.details = details
        self.createdAt = createdAt
    }

    /// The data in words, with its role: `test: folder /data/flowers-test`,
    /// `validation split`.
    public var dataDescription: String {
        switch dataKind {
        case .validation: "validation split"
        case .folder: "test: folder \(dataPath ?? "?")"
        case .fashionMNISTTest: "test: Fashion-MNIST test set"
        }
    }
}

/// One top-k accuracy.
public struct EvaluationTopK: Codable, Sendable, Equatable {
    /// How many of the most probable classes count.
    public var k: Int
    /// The share of images whose true class is among them.
    public var accuracy: Double

    /// - Parameters:
    ///   - k: how many of the most probable classes count.
    ///   - accuracy: the share of images whose true class is among them.
    public init(k: Int, accuracy: Double) {
        self.k = k
        self.accuracy = accuracy
    }
}

/// Everything an evaluation measured beyond its headline figures, as stored in the `metrics`
/// column: per-class scores, the confusion matrix, the reliability bins and the most confident
/// mistakes with their thumbnails.
public struct EvaluationDetails: Codable, Sendable, Equatable {
    /// One class's precision, recall, F1 and support.
    public struct ClassScore: Codable, Sendable, Equatable {
        /// The class.
        public var className: String
        /// True positives over predicted positives.
        public var precision: Double
        /// True positives over the class's images.
        public var recall: Double
        /// The harmonic mean of precision and recall.
        public var f1: Double
        /// The class's images.
        public var support: Int

        /// - Parameters:
        ///   - className: the class.
        ///   - precision: true positives over predicted positives.
        ///   - recall: true positives over the class's images.
        ///   - f1: the harmonic mean of the two.
        ///   - support: the class's images.
        public init(className: String, precision: Double, recall: Double, f1: Double, support: Int) {
            self.className = className; self.precision = precision; self.recall = recall; self.f1 = f1
            self.support = support
        }
    }

    /// One reliability bin: images whose top probability lies in `lower..<upper`.
    public struct Bin: Codable, Sendable, Equatable {
        /// The bin's lower edge.
        public var lower: Double
        /// The bin's upper edge.
        public var upper: Double
        /// Images in the bin.
        public var count: Int
        /// Mean top probability; nil for an empty bin.
        public var confidence: Double?
        /// Share of correct predictions; nil for an empty bin.
        public var accuracy: Double?

        /// - Parameters:
        ///   - lower: the bin's lower edge.
        ///   - upper: its upper edge.
        ///   - count: images in it.
        ///   - confidence: their mean top probability.
        ///   - accuracy: their share of correct predictions.
        public init(lower: Double, upper: Double, count: Int, confidence: Double?, accuracy: Double?) {
            self.lower = lower; self.upper = upper; self.count = count; self.confidence = confidence
            self.accuracy = accuracy
        }
    }

    /// A misclassified image: which one, what it was, what the model said and how sure it was.
    public struct Mistake: Codable, Sendable, Equatable {
        /// The image's name: a folder's relative file path, `test/123` for Fashion-MNIST.
        public var sample: String
        /// The image's index in its dataset.
        public var index: Int
        /// The true class (an index of `classNames`).
        public var trueClass: Int
        /// The class predicted.
        public var predictedClass: Int
        /// The probability of the predicted class.
        public var probability: Double
        /// −log p of the true class: mistakes are ranked by it.
        public var loss: Double
        /// A small JPEG of the image as decoded (at most 96 pixels a side), base64; nil when the
        /// source had no image to give.
        public var thumbnailJPEG: String?

        /// - Parameters:
        ///   - sample: the image's name.
        ///   - index: its index in its dataset.
        ///   - trueClass: its class.
        ///   - predictedClass: the class predicted.
        ///   - probability: the predicted class's probability.
        ///   - loss: −log p of the true class.
        ///   - thumbnailJPEG: a base64 JPEG thumbnail.
        public init(
            sample: String, index: Int, trueClass: Int, predictedClass: Int, probability: Double, loss: Double,
            thumbnailJPEG: String? = nil
        ) {
            self.sample = sample; self.index = index; self.trueClass = trueClass
            self.predictedClass = predictedClass; self.probability = probability; self.loss = loss
            self.thumbnailJPEG = thumbnailJPEG
        }
    }

    /// The classes, by label index.
    public var classNames: [String]
    /// Each class's scores, by label index.
    public var perClass: [ClassScore]
    /// `confusion[true][predicted]`: image counts.
    public var confusion: [[Int]]
    public var reliability: [Bin]
    /// The misclassified images with the highest loss, highest first.
    public var mistakes: [Mistake]

    /// - Parameters:
    ///   - classNames: the classes, by label index.
    ///   - perClass: each class's scores.
    ///   - confusion: counts, rows the true class.
    ///   - reliability: the reliability bins.
    ///   - mistakes: the most confident mistakes, highest loss first.
    public init(
        classNames: [String], perClass: [ClassScore], confusion: [[Int]], reliability: [Bin], mistakes: [Mistake]
    ) {
        self.classNames = classNames; self.perClass = perClass; self.confusion = confusion
        self.reliability = reliability; self.mistakes = mistakes
    }
}

extension EvaluationDataKind: SQLBindable {
    /// The kind's name, as the `data_kind` column holds it.
    public var sqlValue: SQLValue { .text(rawValue) }
}
