import Foundation
import GraftData
import GraftNN
import GraftTensor

/// What a classifier got right and wrong on a labelled set: accuracy and top-k, per-class
/// precision, recall, F1 and support, macro-F1, the confusion matrix, log loss, and the expected
/// calibration error with its reliability bins. Definitions are scikit-learn's and
/// torchmetrics': a class never predicted has precision 0; F1 is 0 where precision and recall
/// both are; ECE bins the top probability into equal-width bins over [0, 1] and averages
/// |accuracy − confidence| weighted by each bin's share of the samples.
public struct ClassificationMetrics: Sendable, Codable, Equatable {
    /// One class's precision, recall, F1 and support.
    public struct PerClass: Sendable, Codable, Equatable {
        public var className: String
        public var precision: Double
        public var recall: Double
        public var f1: Double
        /// Samples of this class.
        public var support: Int
    }

    /// One reliability bin: samples whose top probability falls in `lower..<upper` (the last
    /// bin includes 1).
    public struct Bin: Sendable, Codable, Equatable {
        public var lower: Double
        public var upper: Double
        public var count: Int
        /// Mean top probability; nil for an empty bin.
        public var confidence: Double?
        /// Share of correct predictions; nil for an empty bin.
        public var accuracy: Double?
    }

    public var classNames: [String]
    public var count: Int
    public var accuracy: Double
    /// Top-k accuracy for each k asked for (k = 1 is `accuracy`).
    public var topK: [TopK]
    /// Mean negative log-likelihood of the true class, from the logits (natural log).
    public var logLoss: Double
    public var perClass: [PerClass]
    public var macroF1: Double
    /// `confusion[true][predicted]`: sample counts.
    public var confusion: [[Int]]
    public var expectedCalibrationError: Double
    public var reliability: [Bin]

    /// The share of samples whose true class is among the `k` most probable.
    public struct TopK: Sendable, Codable, Equatable {
        public var k: Int
        public var accuracy: Double
    }
}

/// Accumulates `ClassificationMetrics` batch by batch, so memory is bounded by the batch and not
/// by the data set.
public struct ClassificationTally: Sendable {
    public let classNames: [String]
    public let ks: [Int]
    public let binCount: Int
    private(set) var count = 0
    private var confusion: [[Int]]
    private var topKHits: [Int]
    private var logLossSum = 0.0
    private var binCounts: [Int]
    private var binConfidence: [Double]
    private var binCorrect: [Int]

    /// - Parameters:
    ///   - classNames: the classes, by label index; their count is the class count.
    ///   - topK: the k of each top-k accuracy (those above the class count are dropped).
    ///   - bins: reliability bins (15, torchmetrics' default).
    public init(classNames: [String], topK: [Int] = [1, 5], bins: Int = 15) {
        self.classNames = classNames
        ks = Array(Set(topK.filter { $0 >= 1 && $0 <= classNames.count } + [1])).sorted()
        binCount = max(1, bins)
        confusion = Array(repeating: Array(repeating: 0, count: classNames.count), count: classNames.count)
        topKHits = Array(repeating: 0, count: ks.count)
        binCounts = Array(repeating: 0, count: binCount)
        binConfidence = Array(repeating: 0, count: binCount)
        binCorrect = Array(repeating: 0, count: binCount)
    }

    /// Adds one batch of class probabilities (`[batch, classes]`, rows summing to 1), such as
    /// test-time augmentation's means.
    @discardableResult
    public mutating func add(probabilities: Tensor, labels: [Int]) -> [Double] {
        // Log-probabilities are logits whose softmax is the probabilities themselves.
        var logits = Tensor(uninitializedShape: probabilities.shape)
        let p = probabilities.pointer, z = logits.mutablePointer()
        for i in 0..<probabilities.count { z[i] = logf(max(p[i], Float.leastNormalMagnitude)) }
        return add(logits: logits, labels: labels)
    }

    /// Adds one batch: `logits` is `[batch, classes]`, `labels` the true class of each row.
    /// - Returns: each row's log loss (−log p of its true class), for finding the worst mistakes.
    @discardableResult
    public mutating func add(logits: Tensor, labels: [Int]) -> [Double] {
        let classes = classNames.count
        precondition(logits.shape == [labels.count, classes], "logits \(logits.shape) for \(labels.count) labels")
        var losses: [Double] = []
        losses.reserveCapacity(labels.count)
        logits.withUnsafeBufferPointer { all in
            for (row, label) in labels.enumerated() {
                let z = all[(row * classes)..<((row + 1) * classes)].map(Double.init)
                let top = z.max()!
                let sum = z.reduce(0) { $0 + exp($1 - top) }
                let logNormaliser = top + log(sum)
                losses.append(logNormaliser - z[label])
                // Ties go to the lower class index, as argmax does.
                let predicted = z.indices.max { a, b in z[a] < z[b] || (z[a] == z[b] && a > b) }!
                confusion[label][predicted] += 1
                let rank = z.indices.filter { z[$0] > z[label] || (z[$0] == z[label] && $0 < label) }.count
                for (i, k) in ks.enumerated() where rank < k { topKHits[i] += 1 }
                let confidence = exp(z[predicted] - logNormaliser)
                let bin = min(binCount - 1, Int(confidence * Double(binCount)))
                binCounts[bin] += 1
                binConfidence[bin] += confidence
                if predicted == label { binCorrect[bin] += 1 }
            }
        }
        logLossSum += losses.reduce(0, +)
        count += labels.count
        return losses
    }

    public var metrics: ClassificationMetrics {
        let n = max(1, count)
        let perClass = classNames.indices.map { c -> ClassificationMetrics.PerClass in
            let truePositives = confusion[c][c]
            let predicted = confusion.reduce(0) { $0 + $1[c] }
            let support = confusion[c].reduce(0, +)
            let precision = predicted == 0 ? 0 : Double(truePositives) / Double(predicted)
            let recall = support == 0 ? 0 : Double(truePositives) / Double(support)
            let f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall)
            return .init(className: classNames[c], precision: precision, recall: recall, f1: f1, support: support)
        }
        let bins = (0..<binCount).map { b -> ClassificationMetrics.Bin in
            let filled = binCounts[b] > 0
            return .init(
                lower: Double(b) / Double(binCount), upper: Double(b + 1) / Double(binCount), count: binCounts[b],
                confidence: filled ? binConfidence[b] / Double(binCounts[b]) : nil,
                accuracy: filled ? Double(binCorrect[b]) / Double(binCounts[b]) : nil)
        }
        let ece = bins.reduce(0.0) { sum, bin in
            guard let confidence = bin.confidence, let accuracy = bin.accuracy else { return sum }
            return sum + Double(bin.count) / Double(n) * abs(accuracy - confidence)
        }
        let correct = classNames.indices.reduce(0) { $0 + confusion[$1][$1] }
        return ClassificationMetrics(
            classNames: classNames, count: count, accuracy: Double(correct) / Double(n),
            topK: zip(ks, topKHits).map { .init(k: $0, accuracy: Double($1) / Double(n)) },
            logLoss: logLossSum / Double(n), perClass: perClass,
            macroF1: perClass.isEmpty ? 0 : perClass.map(\.f1).reduce(0, +) / Double(perClass.count),
            confusion: confusion, expectedCalibrationError: ece, reliability: bins)
    }
}

extension Evaluation {
    /// Every metric of `ClassificationMetrics` for `model` in eval mode over `source`, whose
    /// labels index `classNames`. `onBatch` hears the samples done so far.
    /// With `augmentation`, each image's probabilities are the mean over its views.
    /// - Parameters:
    ///   - model: the model; it is put in eval mode.
    ///   - source: the labelled images, with the evaluation transform.
    ///   - classNames: the classes, by label index.
    ///   - topK: the k of each top-k accuracy.
    ///   - augmentation: test-time augmentation (`flip`, `crops`, `flip,crops`); nil scores each
    ///     image as the source gives it.
    ///   - onBatch: hears the number of samples done after each batch.
    /// - Throws: the source's errors; `DataError.invalidArgument` when `augmentation` has crops
    ///   and the source cannot make them.
    public static func classify(
        _ model: Module, on source: BatchSource, classNames: [String], topK: [Int] = [1, 5],
        augmentation: TestTimeAugmentation? = nil, onBatch: ((Int) -> Void)? = nil
    ) throws -> ClassificationMetrics {
        try classifyKeepingMistakes(
            model, on: source, classNames: classNames, topK: topK, augmentation: augmentation, mistakes: 0,
            onBatch: onBatch
        ).metrics
    }
}
