import GraftTensor

/// Softmax cross-entropy with mean reduction (PyTorch's `nn.CrossEntropyLoss()`).
public enum CrossEntropy {
    /// The mean loss, the gradient with respect to the logits, and the number of correct
    /// arg-max predictions.
    ///
    /// With `labelSmoothing` ε > 0 the target is `(1 − ε)·onehot + ε/C` over C classes, as
    /// `nn.CrossEntropyLoss(label_smoothing: ε)`: each row's loss is `(1 − ε)·(−log p_y) +
    /// ε·mean_k(−log p_k)`, and its gradient `(p − target) / N`.
    public static func lossAndGradient(
        logits: Tensor, labels: [Int], labelSmoothing: Double = 0
    ) -> (loss: Float, gradient: Tensor, correct: Int) {
        let n = logits.size(0), c = logits.size(1)
        precondition(labels.count == n, "\(labels.count) labels for \(n) rows of logits")
        precondition(labelSmoothing >= 0 && labelSmoothing < 1, "label smoothing \(labelSmoothing) outside [0, 1)")
        var grad = Tensor(uninitializedShape: logits.shape)
        let z = logits.pointer, g = grad.mutablePointer()
        let onLabel = 1 - labelSmoothing, everywhere = labelSmoothing / Double(c)
        var total = 0.0
        var correct = 0
        for i in 0..<n {
            let row = z + i * c, out = g + i * c
            var maxValue = row[0], arg = 0
            for j in 1..<c where row[j] > maxValue { maxValue = row[j]; arg = j }
            if arg == labels[i] { correct += 1 }
            var sum = 0.0
            for j in 0..<c { sum += Double(Float.exp(row[j] - maxValue)) }
            let logSum = Double.logarithm(sum) + Double(maxValue)
            let label = labels[i]
            precondition(label >= 0 && label < c, "label \(label) out of range 0..<\(c)")
            total += onLabel * (logSum - Double(row[label]))
            if labelSmoothing > 0 {
                var rowSum = 0.0
                for j in 0..<c { rowSum += Double(row[j]) }
                total += labelSmoothing * (logSum - rowSum / Double(c))
            }
            for j in 0..<c {
                let p = Float(Double.exponential(Double(row[j]) - logSum))
                let target = Float((j == label ? onLabel : 0) + everywhere)
                out[j] = (p - target) / Float(n)
            }
        }
        return (Float(total / Double(n)), grad, correct)
    }

    /// Row-wise softmax probabilities.
    public static func softmax(_ logits: Tensor) -> Tensor {
        let n = logits.size(0), c = logits.size(1)
        var out = Tensor(uninitializedShape: logits.shape)
        let z = logits.pointer, p = out.mutablePointer()
        for i in 0..<n {
            let row = z + i * c
            var m = row[0]
            for j in 1..<c { m = max(m, row[j]) }
            var s: Float = 0
            for j in 0..<c { let e = Float.exp(row[j] - m); p[i * c + j] = e; s += e }
            for j in 0..<c { p[i * c + j] /= s }
        }
        return out
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Float {
    @inline(__always) static func exp(_ x: Float) -> Float { expf(x) }
}

extension Double {
    @inline(__always) static func logarithm(_ x: Double) -> Double { log(x) }
    @inline(__always) static func exponential(_ x: Double) -> Double { Foundation_exp(x) }
}

@inline(__always) private func Foundation_exp(_ x: Double) -> Double { exp(x) }
