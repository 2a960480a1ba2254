import Foundation
import GraftCatalog
import GraftData
import GraftNN
import GraftSupport
import GraftTensor

/// The `capacity` misclassified samples with the highest loss (−log p of the true class) seen so
/// far, kept in a min-heap of at most `capacity` entries, so memory does not grow with the data
/// set. Ties in loss keep the sample that came first.
public struct ConfidentMistakes: Sendable {
    /// One misclassified sample.
    public struct Mistake: Sendable, Equatable {
        /// The sample's id: its dataset index where the source gives one, else its position in
        /// the pass.
        public var id: Int
        /// The true class.
        public var trueClass: Int
        /// The class predicted (the most probable).
        public var predictedClass: Int
        /// The predicted class's probability.
        public var probability: Double
        /// −log p of the true class.
        public var loss: Double
        /// Position in the pass, for breaking ties.
        var order: Int
    }

    /// How many mistakes are kept.
    public let capacity: Int
    private var heap: [Mistake] = []
    private var seen = 0

    /// - Parameter capacity: how many mistakes to keep (0 keeps none).
    public init(capacity: Int) { self.capacity = max(0, capacity) }

    /// Whether `a` ranks below `b`: a lower loss, or the same loss seen later.
    private static func below(_ a: Mistake, _ b: Mistake) -> Bool {
        a.loss < b.loss || (a.loss == b.loss && a.order > b.order)
    }

    /// Considers one batch. `logits` is `[batch, classes]` (log-probabilities will do), `labels`
    /// the true classes, `ids` each row's id (nil: positions in the pass).
    /// - Parameters:
    ///   - logits: the batch's logits.
    ///   - labels: the true class of each row.
    ///   - ids: each row's sample id.
    public mutating func add(logits: Tensor, labels: [Int], ids: [Int]?) {
        let classes = logits.shape.last ?? 0
        precondition(logits.shape == [labels.count, classes], "logits \(logits.shape) for \(labels.count) labels")
        defer { seen += labels.count }
        guard capacity > 0 else { return }
        logits.withUnsafeBufferPointer { all in
            for (row, label) in labels.enumerated() {
                let z = all[(row * classes)..<((row + 1) * classes)].map(Double.init)
                // Ties go to the lower class index, as argmax (and `ClassificationTally`) does.
                let predicted = z.indices.max { a, b in z[a] < z[b] || (z[a] == z[b] && a > b) }!
                guard predicted != label else { continue }
                let top = z[predicted]
                let logNormaliser = top + log(z.reduce(0) { $0 + exp($1 - top) })
                consider(
                    Mistake(
                        id: ids?[row] ?? (seen + row), trueClass: label, predictedClass: predicted,
                        probability: exp(top - logNormaliser), loss: logNormaliser - z[label], order: seen + row))
            }
        }
    }

    private mutating func consider(_ m: Mistake) {
        if heap.count < capacity {
            heap.append(m)
            var i = heap.count - 1
            while i > 0, Self.below(heap[i], heap[(i - 1) / 2]) {
                heap.swapAt(i, (i - 1) / 2)
                i = (i - 1) / 2
            }
        } else if Self.below(heap[0], m) {
            heap[0] = m
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var smallest = i
                if l < heap.count, Self.below(heap[l], heap[smallest]) { smallest = l }
                if r < heap.count, Self.below(heap[r], heap[smallest]) { smallest = r }
                if smallest == i { break }
                heap.swapAt(i, smallest)
                i = smallest
            }
        }
    }

    /// The kept mistakes, highest loss first.
    public var worstFirst: [Mistake] { heap.sorted { Self.below($1, $0) } }
}

extension Evaluation {
    /// What `classifyKeepingMistakes` measured.
    public struct Classified: Sendable {
        /// Every metric of the pass.
        public var metrics: ClassificationMetrics
        /// The most confident mistakes, highest loss first.
        public var mistakes: [ConfidentMistakes.Mistake]
    }

    /// `classify`, also keeping the `mistakes` misclassified samples with the highest loss.
    /// - Parameters:
    ///   - model: the model, put in eval mode.
    ///   - source: the labelled images; its labels index `classNames`.
    ///   - classNames: the classes.
    ///   - topK: the k of each top-k accuracy.
    ///   - augmentation: test-time augmentation (each image's probabilities averaged over views).
    ///   - mistakes: how many mistakes to keep.
    ///   - onBatch: hears the samples done so far.
    /// - Throws: what reading a batch throws.
    public static func classifyKeepingMistakes(
        _ model: Module, on source: BatchSource, classNames: [String], topK: [Int] = [1, 5],
        augmentation: TestTimeAugmentation? = nil, mistakes: Int = 16, onBatch: ((Int) -> Void)? = nil
    ) throws -> Classified {
        model.eval()
        var tally = ClassificationTally(classNames: classNames, topK: topK)
        var kept = ConfidentMistakes(capacity: mistakes)
        // Crop views come from a source of their own, with the same samples in the same order.
        let batches = try (augmentation?.views(of: source) ?? source).batches(epoch: 0, startingAt: 0)
        while let batch = try batches.next() {
            if let augmentation {
                let p = TestTimeAugmentation.probabilities(
                    model, batch.images, views: batch.views, augmentation: augmentation)
                tally.add(probabilities: p, labels: batch.labels)
                var logProbabilities = Tensor(uninitializedShape: p.shape)
                let src = p.pointer, dst = logProbabilities.mutablePointer()
                for i in 0..<p.count { dst[i] = logf(max(src[i], Float.leastNormalMagnitude)) }
                kept.add(logits: logProbabilities, labels: batch.labels, ids: batch.ids)
            } else {
                let logits = model(batch.images)
                tally.add(logits: logits, labels: batch.labels)
                kept.add(logits: logits, labels: batch.labels, ids: batch.ids)
            }
            onBatch?(tally.count)
        }
        return Classified(metrics: tally.metrics, mistakes: kept.worstFirst)
    }
}

extension EvaluationDetails {
    /// The stored form of `metrics` and `mistakes`, each mistake named by `source` and given a
    /// JPEG thumbnail of its image as decoded (at most `thumbnailSide` pixels a side), so that the
    /// page still shows it once the data has moved.
    /// - Parameters:
    ///   - metrics: the metrics.
    ///   - mistakes: the mistakes, highest loss first.
    ///   - source: the batch source they came from.
    ///   - thumbnailSide: the thumbnails' longest side.
    /// - Throws: `DataError` when an image cannot be read again or encoded.
    public init(
        _ metrics: ClassificationMetrics, mistakes: [ConfidentMistakes.Mistake], source: BatchSource,
        thumbnailSide: Int = 96
    ) throws {
        let stored = try mistakes.map { m in
            let image = try source.sampleImage(id: m.id, minimumShortSide: thumbnailSide)
            return Mistake(
                sample: source.sampleName(id: m.id) ?? "#\(m.id)", index: m.id, trueClass: m.trueClass,
                predictedClass: m.predictedClass, probability: m.probability, loss: m.loss,
                thumbnailJPEG: try image?.jpegThumbnail(maximumSide: thumbnailSide).base64EncodedString())
        }
        self.init(
            classNames: metrics.classNames,
            perClass: metrics.perClass.map {
                .init(
                    className: $0.className, precision: $0.precision, recall: $0.recall, f1: $0.f1, support: $0.support)
            },
            confusion: metrics.confusion,
            reliability: metrics.reliability.map {
                .init(
                    lower: $0.lower, upper: $0.upper, count: $0.count, confidence: $0.confidence, accuracy: $0.accuracy)
            },
            mistakes: stored)
    }
}
