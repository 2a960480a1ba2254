import GraftTensor

/// PyTorch's `nn.BatchNorm2d`.
///
/// Train mode normalises with the batch statistics (biased variance) and updates the running
/// statistics with momentum 0.1 — the weight of the new batch, PyTorch's convention — using the
/// *unbiased* batch variance, and counts `num_batches_tracked`. Eval mode uses the running
/// statistics. Freezing the affine parameters does not freeze the running statistics: that is
/// what eval mode is for.
public final class BatchNorm2d: Module {
    public let channels: Int
    public let eps: Float
    public let momentum: Float
    public let weight: Parameter
    public let bias: Parameter
    public let runningMean: Buffer
    public let runningVar: Buffer
    public let numBatchesTracked: Buffer

    // Saved for backward: the input, and the per-channel mean and 1/σ that normalised it.
    private var savedInput: Tensor?
    private var savedMean: [Float] = []
    private var savedInvStd: [Float] = []
    private var savedUsedBatchStats = false
    private var savedScale: [Float] = [], savedShift: [Float] = []
    private var savedMode: GradientMode = .none

    public init(_ channels: Int, eps: Float = 1e-5, momentum: Float = 0.1) {
        self.channels = channels
        self.eps = eps
        self.momentum = momentum
        weight = Parameter(Tensor(shape: [channels], repeating: 1))
        bias = Parameter(Tensor(shape: [channels], repeating: 0))
        runningMean = Buffer(.float(Tensor(shape: [channels], repeating: 0)))
        runningVar = Buffer(.float(Tensor(shape: [channels], repeating: 1)))
        numBatchesTracked = Buffer(.int64(shape: [], values: [0]))
    }

    public override var ownParameters: [(name: String, parameter: Parameter)] {
        [("weight", weight), ("bias", bias)]
    }

    public override var ownBuffers: [(name: String, buffer: Buffer)] {
        [("running_mean", runningMean), ("running_var", runningVar), ("num_batches_tracked", numBatchesTracked)]
    }

    private func floatBuffer(_ b: Buffer) -> Tensor {
        guard case .float(let t) = b.value else { preconditionFailure("BatchNorm buffer is not float32") }
        return t
    }

    public override func forward(_ input: Tensor, mode: GradientMode) -> Tensor {
        let n = input.size(0), c = channels, hw = input.size(2) * input.size(3)
        precondition(input.size(1) == c, "BatchNorm2d(\(c)) got input \(input.shape)")
        var mean = [Float](repeating: 0, count: c)
        var invStd = [Float](repeating: 0, count: c)
        let x = input.pointer
        if isTraining {
            var rm = floatBuffer(runningMean), rv = floatBuffer(runningVar)
            let rmp = rm.mutablePointer(), rvp = rv.mutablePointer()
            let count = Double(n * hw)
            let momentum = momentum, eps = eps
            mean.withUnsafeMutableBufferPointer { meanBuffer in
                invStd.withUnsafeMutableBufferPointer { invBuffer in
                    let meanOut = meanBuffer.baseAddress!, invOut = invBuffer.baseAddress!
                    Elementwise.forUnits(c, workPerUnit: 2 * n * hw) { first, last in
                        for ch in first..<last {
                            // Two passes in double: exact enough that running statistics match PyTorch's.
                            var sum = 0.0
                            for i in 0..<n {
                                let p = x + (i * c + ch) * hw
                                var s: Float = 0
                                for j in 0..<hw { s += p[j] }
                                sum += Double(s)
                            }
                            let mu = sum / count
                            var sq = 0.0
                            for i in 0..<n {
                                let p = x + (i * c + ch) * hw
                                let m = Float(mu)
                                var s: Float = 0
                                for j in 0..<hw { let d = p[j] - m; s += d * d }
                                sq += Double(s)
                            }
                            let variance = sq / count
                            meanOut[ch] = Float(mu)
                            invOut[ch] = Float(1 / (variance + Double(eps)).squareRoot())
                            let unbiased = count > 1 ? variance * count / (count - 1) : variance
                            rmp[ch] = (1 - momentum) * rmp[ch] + momentum * Float(mu)
                            rvp[ch] = (1 - momentum) * rvp[ch] + momentum * Float(unbiased)
                        }
                    }
                }
            }
            runningMean.value = .float(rm)
            runningVar.value = .float(rv)
            if case .int64(let shape, let v) = numBatchesTracked.value {
                numBatchesTracked.value = .int64(shape: shape, values: [v[0] + 1])
            }
        } else {
            let rm = floatBuffer(runningMean).pointer, rv = floatBuffer(runningVar).pointer
            for ch in 0..<c {
                mean[ch] = rm[ch]
                invStd[ch] = 1 / (rv[ch] + eps).squareRoot()
            }
        }
        var output = Tensor(uninitializedShape: input.shape)
        let y = output.mutablePointer()
        let gamma = weight.value.pointer, beta = bias.value.pointer
        var scale = [Float](repeating: 0, count: c), shift = [Float](repeating: 0, count: c)
        for ch in 0..<c {
            scale[ch] = gamma[ch] * invStd[ch]
            shift[ch] = beta[ch] - mean[ch] * scale[ch]
        }
        Elementwise.channelAffine(x, into: y, planes: n * c, planeSize: hw, channels: c, scale: scale, shift: shift)
        savedMode = mode
        if mode != .none {
            savedInput = input
            savedMean = mean
            savedInvStd = invStd
            savedScale = scale
            savedShift = shift
            savedUsedBatchStats = isTraining
        } else {
            savedInput = nil
        }
        return output
    }

    public override func backward(_ outputGradient: Tensor) -> Tensor? {
        guard let input = savedInput else { preconditionFailure("BatchNorm2d.backward without a saved forward") }
        defer { savedInput = nil }
        let n = input.size(0), c = channels, hw = input.size(2) * input.size(3)
        let x = input.pointer, dy = outputGradient.pointer
        let gamma = weight.value.pointer
        var dGamma = [Float](repeating: 0, count: c)
        var dBeta = [Float](repeating: 0, count: c)
        let savedMean = savedMean, savedInvStd = savedInvStd
        let needSums = weight.requiresGrad || bias.requiresGrad || (savedMode == .input && savedUsedBatchStats)
        if needSums {
            dGamma.withUnsafeMutableBufferPointer { gammaBuffer in
                dBeta.withUnsafeMutableBufferPointer { betaBuffer in
                    let dg = gammaBuffer.baseAddress!, db = betaBuffer.baseAddress!
                    Elementwise.forUnits(c, workPerUnit: n * hw) { first, last in
                        for ch in first..<last {
                            let m = savedMean[ch], inv = savedInvStd[ch]
                            var sg = 0.0, sgx = 0.0
                            for i in 0..<n {
                                let px = x + (i * c + ch) * hw, pg = dy + (i * c + ch) * hw
                                var a: Float = 0, b: Float = 0
                                for j in 0..<hw { a += pg[j]; b += pg[j] * (px[j] - m) }
                                sg += Double(a)
                                sgx += Double(b)
                            }
                            db[ch] = Float(sg)
                            dg[ch] = Float(sgx) * inv
                        }
                    }
                }
            }
        }
        if weight.requiresGrad { weight.accumulate(Tensor(shape: [c], scalars: dGamma)) }
        if bias.requiresGrad { bias.accumulate(Tensor(shape: [c], scalars: dBeta)) }
        guard savedMode == .input else { return nil }

        var gradInput = Tensor(uninitializedShape: input.shape)
        let dx = gradInput.mutablePointer()
        let count = Float(n * hw)
        if !savedUsedBatchStats {
            // Running statistics are constants: dx = γ/σ · dy.
            var scale = [Float](repeating: 0, count: c)
            for ch in 0..<c { scale[ch] = gamma[ch] * savedInvStd[ch] }
            let zero = [Float](repeating: 0, count: c)
            Elementwise.channelAffine(
                dy, into: dx, planes: n * c, planeSize: hw, channels: c, scale: scale, shift: zero)
            return gradInput
        }
        let dGammaSums = dGamma, dBetaSums = dBeta
        Elementwise.forUnits(c, workPerUnit: n * hw) { first, last in
            for ch in first..<last {
                let inv = savedInvStd[ch], m = savedMean[ch]
                let k = gamma[ch] * inv
                // dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy · x̂))
                let meanDy = dBetaSums[ch] / count
                let meanDyXhat = dGammaSums[ch] / count
                for i in 0..<n {
                    let px = x + (i * c + ch) * hw, pg = dy + (i * c + ch) * hw, pd = dx + (i * c + ch) * hw
                    for j in 0..<hw {
                        let xhat = (px[j] - m) * inv
                        pd[j] = k * (pg[j] - meanDy - xhat * meanDyXhat)
                    }
                }
            }
        }
        return gradInput
    }

    public override func clearSaved() { savedInput = nil }

    /// The output of the last forward pass made with a mode other than `.none`, computed again
    /// from its saved input with the same per-channel scale and shift: bit for bit what that pass
    /// returned. Lets the layers after it keep nothing (`Chain`).
    public func recomputedOutput() -> Tensor {
        guard let input = savedInput else { preconditionFailure("BatchNorm2d output recomputed without a saved forward") }
        var output = Tensor(uninitializedShape: input.shape)
        Elementwise.channelAffine(
            input.pointer, into: output.mutablePointer(), planes: input.size(0) * channels,
            planeSize: input.size(2) * input.size(3), channels: channels, scale: savedScale, shift: savedShift)
        return output
    }

    /// The per-channel `scale`, `shift` with which eval mode computes `x·scale + shift`
    /// (running statistics), for folding this layer into the convolution before it.
    public func inferenceScaleShift() -> (scale: [Float], shift: [Float]) {
        let rm = floatBuffer(runningMean).pointer, rv = floatBuffer(runningVar).pointer
        let gamma = weight.value.pointer, beta = bias.value.pointer
        var scale = [Float](repeating: 0, count: channels), shift = [Float](repeating: 0, count: channels)
        for ch in 0..<channels {
            scale[ch] = gamma[ch] * (1 / (rv[ch] + eps).squareRoot())
            shift[ch] = beta[ch] - rm[ch] * scale[ch]
        }
        return (scale, shift)
    }
}
