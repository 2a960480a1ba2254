import Foundation
import GraftData
import GraftNN
import GraftTensor

/// Eval-mode passes over a batch source.
public enum Evaluation {
    /// Mean loss and accuracy over the images of a batch source.
    public struct Result: Sendable {
        /// Mean cross-entropy per image.
        public var loss: Double
        /// Fraction of images classified correctly.
        public var accuracy: Double
        /// Images evaluated.
        public var count: Int
    }

    /// Mean cross-entropy and accuracy with the model in eval mode (left in eval mode).
    /// - Parameters:
    ///   - model: the model; it is put in eval mode.
    ///   - source: the labelled images, with the evaluation transform.
    ///   - augmentation: test-time augmentation: each image's probabilities are the mean over its
    ///     views (`TestTimeAugmentation`), and the loss is −log of the mean probability of its
    ///     class; nil scores each image as the source gives it.
    /// - Throws: the source's errors; `DataError.invalidArgument` when `augmentation` has crops
    ///   and the source cannot make them.
    public static func run(
        _ model: Module, on source: BatchSource, augmentation: TestTimeAugmentation? = nil
    ) throws -> Result {
        model.eval()
        var lossSum = 0.0, correct = 0, seen = 0
        let batches = try (augmentation?.views(of: source) ?? source).batches(epoch: 0, startingAt: 0)
        while let batch = try batches.next() {
            if let augmentation {
                let p = TestTimeAugmentation.probabilities(
                    model, batch.images, views: batch.views, augmentation: augmentation)
                let classes = p.size(1)
                p.withUnsafeBufferPointer { all in
                    for (row, label) in batch.labels.enumerated() {
                        let r = all[(row * classes)..<((row + 1) * classes)]
                        lossSum -= log(max(Double(r[row * classes + label]), Double.leastNormalMagnitude))
                        // Ties go to the lower class index, as argmax does.
                        if r.indices.max(by: { r[$0] < r[$1] || (r[$0] == r[$1] && $0 > $1) }) == row * classes + label
                        {
                            correct += 1
                        }
                    }
                }
            } else {
                let logits = model(batch.images)
                let (loss, _, c) = CrossEntropy.lossAndGradient(logits: logits, labels: batch.labels)
                lossSum += Double(loss) * Double(batch.labels.count)
                correct += c
            }
            seen += batch.labels.count
        }
        return Result(
            loss: lossSum / Double(max(1, seen)), accuracy: Double(correct) / Double(max(1, seen)), count: seen)
    }
}
