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
    public static func run(_ model: Module, on source: BatchSource) throws -> Result {
        model.eval()
        var lossSum = 0.0, correct = 0, seen = 0
        let batches = source.batches(epoch: 0, startingAt: 0)
        while let batch = try batches.next() {
            let logits = model(batch.images)
            let (loss, _, c) = CrossEntropy.lossAndGradient(logits: logits, labels: batch.labels)
            lossSum += Double(loss) * Double(batch.labels.count)
            correct += c
            seen += batch.labels.count
        }
        return Result(
            loss: lossSum / Double(max(1, seen)), accuracy: Double(correct) / Double(max(1, seen)), count: seen)
    }
}
