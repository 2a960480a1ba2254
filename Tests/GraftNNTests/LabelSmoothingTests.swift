import Foundation
import GraftNN
import GraftTensor
import Testing
import TestSupport

/// Label smoothing against PyTorch's `nn.CrossEntropyLoss(label_smoothing=ε)`: the loss and its
/// gradient with respect to the logits, from `Tests/Fixtures/label-smoothing.json`
/// (`scripts/make-regulariser-fixtures.py`, a float64 reference on float32 logits).
@Suite struct LabelSmoothingTests {
    struct Case: Decodable {
        var name: String
        var label_smoothing: Double
        var shape: [Int]
        var logits: [Double]
        var labels: [Int]
        var loss: Double
        var gradient: [Double]
        /// How far PyTorch's float32 result is from the reference (rel-to-max).
        var float32_rel_to_max: Double
    }

    static func cases() throws -> [Case] {
        struct File: Decodable { var cases: [Case] }
        let url = Fixtures.packageRoot.appendingPathComponent("Tests/Fixtures/label-smoothing.json")
        return try JSONDecoder().decode(File.self, from: Data(contentsOf: url)).cases
    }

    /// rel-to-max 1e-6 (the fixtures README's notation), above the largest float32-vs-float64
    /// difference of PyTorch's own result in the file (1.3e-7).
    static let tolerance = 1e-6

    @Test("loss and gradient match PyTorch for every ε, a saturated softmax included")
    func matchesPyTorch() throws {
        let cases = try Self.cases()
        #expect(cases.count == 9 && Set(cases.map(\.label_smoothing)) == [0, 0.1, 0.3])
        for c in cases {
            #expect(c.float32_rel_to_max < Self.tolerance, "\(c.name): the tolerance must sit above PyTorch's own")
            let logits = Tensor(shape: c.shape, scalars: c.logits.map(Float.init))
            let (loss, gradient, _) = CrossEntropy.lossAndGradient(
                logits: logits, labels: c.labels, labelSmoothing: c.label_smoothing)
            #expect(abs(Double(loss) - c.loss) <= Self.tolerance * abs(c.loss), "\(c.name): loss \(loss) vs \(c.loss)")
            let scale = c.gradient.map(abs).max() ?? 0
            let worst = zip(gradient.scalars, c.gradient).map { abs(Double($0) - $1) }.max() ?? .infinity
            #expect(worst <= Self.tolerance * scale, "\(c.name): gradient off by \(worst) (max \(scale))")
        }
    }

    @Test("smoothing changes the loss: a confident right answer costs more with ε > 0")
    func smoothingMatters() {
        let logits = Tensor(shape: [1, 3], scalars: [8, 0, 0])
        let plain = CrossEntropy.lossAndGradient(logits: logits, labels: [0]).loss
        let smoothed = CrossEntropy.lossAndGradient(logits: logits, labels: [0], labelSmoothing: 0.1).loss
        #expect(smoothed > plain + 0.1, "plain \(plain), smoothed \(smoothed)")
    }
}
