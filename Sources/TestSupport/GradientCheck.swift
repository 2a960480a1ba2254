import GraftTensor

/// Central finite differences for a scalar function of a tensor: the reference that analytic
/// backward passes are checked against on small shapes.
public enum GradientCheck {
    /// d f / d x at each element, with step `h`.
    public static func numeric(_ x: Tensor, h: Float = 1e-2, _ f: (Tensor) -> Double) -> [Double] {
        var result = [Double](repeating: 0, count: x.count)
        for i in 0..<x.count {
            var plus = x, minus = x
            plus.withUnsafeMutableBufferPointer { $0[i] += h }
            minus.withUnsafeMutableBufferPointer { $0[i] -= h }
            result[i] = (f(plus) - f(minus)) / Double(2 * h)
        }
        return result
    }

    /// Σ output·weights in double: a scalar whose gradient with respect to the output is `weights`.
    public static func dot(_ a: Tensor, _ weights: Tensor) -> Double {
        var s = 0.0
        for i in 0..<a.count { s += Double(a.pointer[i]) * Double(weights.pointer[i]) }
        return s
    }

    /// max |analytic − numeric| / max(1e-3, max |numeric|).
    public static func relativeError(_ analytic: Tensor, _ numeric: [Double]) -> Double {
        var maxDiff = 0.0, maxRef = 1e-3
        for i in 0..<numeric.count {
            maxDiff = max(maxDiff, abs(Double(analytic.pointer[i]) - numeric[i]))
            maxRef = max(maxRef, abs(numeric[i]))
        }
        return maxDiff / maxRef
    }
}
