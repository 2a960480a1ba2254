import Foundation
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
}
