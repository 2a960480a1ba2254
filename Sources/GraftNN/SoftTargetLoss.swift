import GraftTensor

extension CrossEntropy {
    /// The mean loss and its gradient with respect to the logits for probability targets, as
    /// `nn.CrossEntropyLoss(label_smoothing: ε)` computes them when its target is a `[N, C]`
    /// float tensor (mixup and CutMix's soft labels).
    ///
    /// Each row's target is first smoothed to `(1 − ε)·t + ε/C`; its loss is
    /// `−Σ_k target_k · log p_k` and its gradient `(p − target) / N` (the targets of a row sum
    /// to 1). Sums run in Double, so the result is the float64 value rounded once.
    /// - Parameters:
    ///   - logits: `[N, C]`.
    ///   - targets: `[N, C]` probabilities; each row sums to 1.
    ///   - labelSmoothing: ε in [0, 1).
    /// - Precondition: `targets` has the logits' shape.
    public static func lossAndGradient(
        logits: Tensor, targets: Tensor, labelSmoothing: Double = 0
    ) -> (loss: Float, gradient: Tensor) {
        let n = logits.size(0), c = logits.size(1)
        precondition(targets.shape == logits.shape, "targets \(targets.shape) for logits \(logits.shape)")
        precondition(labelSmoothing >= 0 && labelSmoothing < 1, "label smoothing \(labelSmoothing) outside [0, 1)")
        var grad = Tensor(uninitializedShape: logits.shape)
        let z = logits.pointer, t = targets.pointer, g = grad.mutablePointer()
        let keep = 1 - labelSmoothing, everywhere = labelSmoothing / Double(c)
        var total = 0.0
        for i in 0..<n {
            let row = z + i * c, target = t + i * c, out = g + i * c
            var maxValue = row[0]
            for j in 1..<c where row[j] > maxValue { maxValue = row[j] }
            var sum = 0.0
            for j in 0..<c { sum += Double(Float.exp(row[j] - maxValue)) }
            let logSum = Double.logarithm(sum) + Double(maxValue)
            for j in 0..<c {
                let smoothed = keep * Double(target[j]) + everywhere
                total += smoothed * (logSum - Double(row[j]))
                let p = Double.exponential(Double(row[j]) - logSum)
                out[j] = Float((p - smoothed) / Double(n))
            }
        }
        return (Float(total / Double(n)), grad)
    }

    /// How many rows' arg-max logit is the arg-max of their target (its dominant label; the lower
    /// class on a tie, as `torch.max` picks): the training accuracy of a mixed batch, as
    /// torchvision's reference `utils.accuracy` counts it for soft targets.
    public static func dominantLabelHits(logits: Tensor, targets: Tensor) -> Int {
        let n = logits.size(0), c = logits.size(1)
        precondition(targets.shape == logits.shape, "targets \(targets.shape) for logits \(logits.shape)")
        let z = logits.pointer, t = targets.pointer
        var hits = 0
        for i in 0..<n {
            var best = 0, label = 0
            for j in 1..<c {
                if z[i * c + j] > z[i * c + best] { best = j }
                if t[i * c + j] > t[i * c + label] { label = j }
            }
            if best == label { hits += 1 }
        }
        return hits
    }
}
