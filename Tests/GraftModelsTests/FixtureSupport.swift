import Foundation
import GraftNN
import GraftTensor
import GraftWeights
import TestSupport

/// Loads a fixture `.pth` into a model strictly (every key, every shape).
func loadFixtureWeights(_ model: Module, _ relativePath: String) throws {
    let state = try PyTorchCheckpoint.load(Fixtures.url(relativePath))
    _ = try model.load(state, strict: true)
}

func fixtureTensor(_ relativePath: String) throws -> Tensor { try NPY.float(Fixtures.url(relativePath)) }

/// `grad_norms.json`: name → (l2, sum), computed by PyTorch in float64 from the float32 gradient.
func gradNorms(_ relativePath: String) throws -> [String: (l2: Double, sum: Double)] {
    let data = try Data(contentsOf: Fixtures.url(relativePath))
    let json = try JSONSerialization.jsonObject(with: data) as! [String: [String: Double]]
    return json.mapValues { ($0["l2"]!, $0["sum"]!) }
}

/// L2 norm and sum of a gradient in float64, as the fixture computed them.
func norms(_ t: Tensor) -> (l2: Double, sum: Double) {
    var sq = 0.0, s = 0.0
    for i in 0..<t.count { let v = Double(t.pointer[i]); sq += v * v; s += v }
    return (sq.squareRoot(), s)
}

func floatBuffer(_ model: Module, _ key: String) -> Tensor? {
    if case .float(let t)? = model.stateDict()[key] { return t }
    return nil
}

func intBuffer(_ model: Module, _ key: String) -> Int64? {
    if case .int64(_, let v)? = model.stateDict()[key] { return v.first }
    return nil
}
