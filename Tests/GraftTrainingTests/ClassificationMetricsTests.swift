import Foundation
import GraftModels
import GraftNN
import GraftTensor
import Testing

@testable import GraftTraining

/// Every metric of a small case worked out by hand (scikit-learn's definitions).
struct ClassificationMetricsTests {
    /// Four samples, three classes; logits are log-probabilities, so the probabilities are exact.
    static let probabilities: [[Float]] = [
        [0.72, 0.18, 0.10],  // class a, predicted a, confidence 0.72
        [0.55, 0.35, 0.10],  // class b, predicted a (true class 2nd), confidence 0.55
        [0.17, 0.20, 0.63],  // class c, predicted c, confidence 0.63
        [0.10, 0.66, 0.24],  // class c, predicted b (true class 2nd), confidence 0.66
    ]
    static let labels = [0, 1, 2, 2]

    func tally(bins: Int = 10) -> ClassificationMetrics {
        var tally = ClassificationTally(classNames: ["a", "b", "c"], topK: [1, 2, 5], bins: bins)
        let logits = Tensor(shape: [4, 3], scalars: Self.probabilities.flatMap { $0.map { Float(log(Double($0))) } })
        // Two batches: the tally must not depend on how the samples are batched.
        let first = Tensor(shape: [1, 3], scalars: Array(logits.scalars[0..<3]))
        let rest = Tensor(shape: [3, 3], scalars: Array(logits.scalars[3...]))
        let losses = tally.add(logits: first, labels: [0]) + tally.add(logits: rest, labels: [1, 2, 2])
        #expect(zip(losses, [0.72, 0.35, 0.63, 0.24]).allSatisfy { abs($0 + log($1)) < 1e-6 })
        return tally.metrics
    }

    @Test func everyMetricAsWorkedOutByHand() throws {
        let m = tally()
        #expect(m.count == 4)
        #expect(m.accuracy == 0.5)
        // k = 5 is above the class count and dropped; both misses have the true class second.
        #expect(m.topK == [.init(k: 1, accuracy: 0.5), .init(k: 2, accuracy: 1)])
        #expect(abs(m.logLoss - -(log(0.72) + log(0.35) + log(0.63) + log(0.24)) / 4) < 1e-6)
        #expect(m.confusion == [[1, 0, 0], [1, 0, 0], [0, 1, 1]])
        let expected: [(Double, Double, Double, Int)] = [(0.5, 1, 2.0 / 3, 1), (0, 0, 0, 1), (1, 0.5, 2.0 / 3, 2)]
        for (row, (precision, recall, f1, support)) in zip(m.perClass, expected) {
            #expect(abs(row.precision - precision) < 1e-12 && abs(row.recall - recall) < 1e-12)
            #expect(abs(row.f1 - f1) < 1e-12 && row.support == support, "\(row)")
        }
        #expect(abs(m.macroF1 - 4.0 / 9) < 1e-12)
        // Bins of 0.1: 0.55 alone and wrong; 0.63 and 0.66, one right; 0.72 alone and right.
        #expect(m.reliability.map(\.count) == [0, 0, 0, 0, 0, 1, 2, 1, 0, 0])
        #expect(abs(m.reliability[6].confidence! - 0.645) < 1e-6 && m.reliability[6].accuracy == 0.5)
        #expect(m.reliability[0].confidence == nil)
        let ece = (0.55 * 1 + 0.145 * 2 + 0.28 * 1) / 4
        #expect(abs(m.expectedCalibrationError - ece) < 1e-6)
    }

    @Test func oneBinMakesTheCalibrationErrorTheGapOfTheMeans() {
        let m = tally(bins: 1)
        let meanConfidence = (0.72 + 0.55 + 0.63 + 0.66) / 4
        #expect(abs(m.expectedCalibrationError - abs(0.5 - meanConfidence)) < 1e-6)
    }

    @Test func probabilitiesGiveWhatTheirLogitsGive() {
        var fromLogits = ClassificationTally(classNames: ["a", "b", "c"], bins: 10)
        var fromProbabilities = ClassificationTally(classNames: ["a", "b", "c"], bins: 10)
        let logits = Tensor(shape: [4, 3], scalars: [2, -1, 0.5, 0, 0, 3, -2, 1, 1, 0.3, 0.2, 0.1])
        fromLogits.add(logits: logits, labels: [0, 2, 1, 0])
        fromProbabilities.add(probabilities: CrossEntropy.softmax(logits), labels: [0, 2, 1, 0])
        let a = fromLogits.metrics, b = fromProbabilities.metrics
        #expect(
            a.confusion == b.confusion && a.topK == b.topK && a.reliability.map(\.count) == b.reliability.map(\.count))
        #expect(
            abs(a.logLoss - b.logLoss) < 1e-6 && abs(a.expectedCalibrationError - b.expectedCalibrationError) < 1e-6)
    }

    @Test func flipTTAMirrorsAndAverages() {
        let model = Architecture.vanillaCNN.make(numClasses: 3, seed: 4)
        model.eval()
        var random = RandomGenerator(seed: 9)
        let images = Tensor(
            shape: [2, 3, 16, 16], scalars: (0..<(2 * 3 * 16 * 16)).map { _ in Float(random.nextNormal()) })
        let mirrored = TestTimeAugmentation.mirror(images)
        #expect(TestTimeAugmentation.mirror(mirrored).scalars == images.scalars)
        #expect(mirrored.scalars[0] == images.scalars[15] && mirrored.scalars[16] == images.scalars[31])
        // An image and its mirror give the same mean; a mirror-symmetric image gives its own softmax.
        let both = TestTimeAugmentation.probabilities(model, images, augmentation: .flip)
        let bothMirrored = TestTimeAugmentation.probabilities(model, mirrored, augmentation: .flip)
        #expect(zip(both.scalars, bothMirrored.scalars).allSatisfy { abs($0 - $1) < 1e-6 })
        var symmetric = images
        let p = symmetric.mutablePointer()
        for row in 0..<(2 * 3 * 16) { for x in 0..<8 { p[row * 16 + 15 - x] = p[row * 16 + x] } }
        let plain = CrossEntropy.softmax(model(symmetric))
        let tta = TestTimeAugmentation.probabilities(model, symmetric, augmentation: .flip)
        #expect(zip(plain.scalars, tta.scalars).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(zip(both.scalars, plain.scalars).contains { abs($0 - $1) > 1e-4 }, "the mirror changes something")
    }
}
