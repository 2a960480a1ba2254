import GraftTensor

/// 2-D convolution, weights OIHW, optional bias, symmetric zero padding (PyTorch's `nn.Conv2d`
/// with groups 1 and dilation 1).
public final class Conv2d: Module {
    public let geometry: ConvGeometry
    public let weight: Parameter
    public let bias: Parameter?
    private let workspace = Workspace()
    /// Inference's weights with the BatchNorm folded in, and what they were made from: the
    /// versions of this layer's parameters and of the BatchNorm's parameters and statistics.
    /// The weights are dropped (nil) while Graft's Winograd transform of them stands in.
    private var folded: (key: [UInt64], weight: Tensor?, bias: Tensor)?
    /// Graft's Winograd transform of `folded`'s weights, where inference runs that kernel.
    private let transformedWeights = WinogradWeightCache()
    private var savedInput: Tensor?
    private var savedMode: GradientMode = .none

    /// PyTorch's default initialisation: weight and bias uniform in ±1/√fan_in
    /// (kaiming_uniform with a = √5).
    public init(
        _ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
        bias: Bool = true, rng: inout RandomGenerator
    ) {
        geometry = ConvGeometry(
            inChannels: inChannels, outChannels: outChannels, kernel: kernel,
            stride: stride, padding: padding)
        let bound = 1 / Float(geometry.patchSize).squareRoot()
        weight = Parameter(.uniform([outChannels, inChannels, kernel, kernel], low: -bound, high: bound, using: &rng))
        self.bias = bias ? Parameter(.uniform([outChannels], low: -bound, high: bound, using: &rng)) : nil
    }

    public override var ownParameters: [(name: String, parameter: Parameter)] {
        var p: [(String, Parameter)] = [("weight", weight)]
        if let bias { p.append(("bias", bias)) }
        return p
    }

    public override func forward(_ input: Tensor, mode: GradientMode) -> Tensor {
        forward(input, mode: mode, keepingInput: true)
    }

    /// With `keepingInput: false` the input is not kept for backward: whoever ran this pass
    /// hands it to `backward(_:input:)` instead (`Chain` recomputes it there).
    public func forward(_ input: Tensor, mode: GradientMode, keepingInput: Bool) -> Tensor {
        savedMode = mode
        savedInput = mode == .none || !keepingInput ? nil : input
        return ConvKernels.forward(
            input: input, weight: weight.value, bias: bias?.value, geometry, workspace: workspace)
    }

    public override func backward(_ outputGradient: Tensor) -> Tensor? {
        guard let input = savedInput else { preconditionFailure("Conv2d.backward without a saved forward") }
        savedInput = nil
        return backward(outputGradient, input: input)
    }

    /// Backward through the last forward pass, given the input that pass saw.
    public func backward(_ outputGradient: Tensor, input: Tensor) -> Tensor? {
        var gw: Tensor? = weight.requiresGrad ? Tensor.zeros(weight.value.shape) : nil
        var gb: Tensor? = (bias?.requiresGrad ?? false) ? Tensor.zeros([geometry.outChannels]) : nil
        let gwp = gw?.mutablePointer()
        let gbp = gb?.mutablePointer()
        let gx = ConvKernels.backward(
            input: input, weight: weight.value, outputGradient: outputGradient, geometry,
            weightGradient: gwp, biasGradient: gbp, needInput: savedMode == .input, workspace: workspace)
        if let g = gw { weight.accumulate(g) }
        if let g = gb { bias?.accumulate(g) }
        gw = nil
        gb = nil
        return gx
    }

    /// Inference through this convolution and the eval-mode BatchNorm after it, folded into one
    /// convolution (`W·scale`, `shift` as bias), optionally with the ReLU that follows fused in.
    /// Keeps nothing for backward; equal to `relu(batchNorm(conv(x)))` up to rounding.
    public func inferenceForward(_ input: Tensor, foldingBatchNorm batchNorm: BatchNorm2d, relu: Bool) -> Tensor {
        precondition(batchNorm.channels == geometry.outChannels, "BatchNorm2d(\(batchNorm.channels)) after \(geometry)")
        savedInput = nil
        let n = input.size(0), h = input.size(2), w = input.size(3)
        let winograd = ConvKernels.usesGraftWinograd(
            geometry, batch: n, height: h, width: w, backend: ConvKernels.defaultBackend)
        let (foldedWeight, foldedBias) = foldedWeights(
            batchNorm, transformHeld: winograd && transformedWeights.bytes > 0)
        let output = ConvKernels.forward(
            input: input, weight: foldedWeight ?? weight.value, bias: foldedBias, geometry, workspace: workspace,
            fuseReLU: relu, transformedWeights: transformedWeights)
        // The transform is four times the weights: keep one or the other.
        if winograd && transformedWeights.bytes > 0 { folded?.weight = nil }
        return output
    }

    /// Bytes this layer keeps for inference between calls: the folded bias, and the folded
    /// weights or, where inference runs Graft's Winograd, their transform (four times as many).
    public var inferenceCacheBytes: Int {
        (folded.map { (($0.weight?.count ?? 0) + $0.bias.count) * MemoryLayout<Float>.stride } ?? 0)
            + transformedWeights.bytes
    }

    /// `W·scale` and `shift (+ bias·scale)` of the BatchNorm's eval mode, made again only when a
    /// parameter or statistic they come from has been written since (an optimizer step, a load,
    /// a train-mode pass): folding every call rewrote every weight of the model per batch. The
    /// weights are nil when `transformHeld` (the call runs on the kept transform), and made
    /// again when a call needs them after they were dropped.
    private func foldedWeights(_ batchNorm: BatchNorm2d, transformHeld: Bool) -> (Tensor?, Tensor) {
        let key: [UInt64] = [
            UInt64(UInt(bitPattern: ObjectIdentifier(batchNorm).hashValue)), weight.version, bias?.version ?? 0,
            batchNorm.weight.version, batchNorm.bias.version, batchNorm.runningMean.version,
            batchNorm.runningVar.version,
        ]
        if let folded, folded.key == key, folded.weight != nil || transformHeld { return (folded.weight, folded.bias) }
        if folded?.key != key { transformedWeights.invalidate() }
        let (scale, shift) = batchNorm.inferenceScaleShift()
        let m = geometry.outChannels, perFilter = geometry.patchSize
        var foldedWeight = Tensor(uninitializedShape: weight.value.shape)
        var foldedBias = Tensor(shape: [m], scalars: shift)
        let w = weight.value.pointer, fw = foldedWeight.mutablePointer(), fb = foldedBias.mutablePointer()
        for o in 0..<m {
            let a = scale[o]
            let src = w + o * perFilter, dst = fw + o * perFilter
            for j in 0..<perFilter { dst[j] = src[j] * a }
        }
        if let bias {
            let b = bias.value.pointer
            for o in 0..<m { fb[o] += b[o] * scale[o] }
        }
        folded = (key, foldedWeight, foldedBias)
        return (foldedWeight, foldedBias)
    }

    public override func clearSaved() {
        savedInput = nil
        workspace.release()
    }
}
