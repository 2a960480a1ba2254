import GraftTensor

/// `y = x·Wᵀ + b`, weight `[out, in]` as PyTorch's `nn.Linear`.
public final class Linear: Module {
    public let inFeatures: Int, outFeatures: Int
    public let weight: Parameter
    public let bias: Parameter?
    private var savedInput: Tensor?
    private var savedMode: GradientMode = .none

    /// PyTorch's default initialisation: weight and bias uniform in ±1/√in.
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, rng: inout RandomGenerator) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        let bound = 1 / Float(inFeatures).squareRoot()
        weight = Parameter(.uniform([outFeatures, inFeatures], low: -bound, high: bound, using: &rng))
        self.bias = bias ? Parameter(.uniform([outFeatures], low: -bound, high: bound, using: &rng)) : nil
    }

    public override var ownParameters: [(name: String, parameter: Parameter)] {
        var p: [(String, Parameter)] = [("weight", weight)]
        if let bias { p.append(("bias", bias)) }
        return p
    }

    public override func forward(_ input: Tensor, mode: GradientMode) -> Tensor {
        let n = input.size(0)
        precondition(input.count == n * inFeatures, "Linear(\(inFeatures)) got input \(input.shape)")
        var output = Tensor(uninitializedShape: [n, outFeatures])
        let y = output.mutablePointer()
        if let bias {
            for i in 0..<n { (y + i * outFeatures).update(from: bias.value.pointer, count: outFeatures) }
        }
        BLAS.gemm(
            transB: true, m: n, n: outFeatures, k: inFeatures, a: input.pointer, lda: inFeatures,
            b: weight.value.pointer, ldb: inFeatures, beta: bias == nil ? 0 : 1, c: y, ldc: outFeatures)
        savedMode = mode
        savedInput = mode == .none ? nil : input
        return output
    }

    public override func backward(_ outputGradient: Tensor) -> Tensor? {
        guard let input = savedInput else { preconditionFailure("Linear.backward without a saved forward") }
        defer { savedInput = nil }
        let n = input.size(0)
        let dy = outputGradient.pointer
        if weight.requiresGrad {
            var gw = Tensor(uninitializedShape: [outFeatures, inFeatures])
            BLAS.gemm(
                transA: true, m: outFeatures, n: inFeatures, k: n, a: dy, lda: outFeatures,
                b: input.pointer, ldb: inFeatures, c: gw.mutablePointer(), ldc: inFeatures)
            weight.accumulate(gw)
        }
        if let bias, bias.requiresGrad {
            var gb = Tensor(shape: [outFeatures], repeating: 0)
            let p = gb.mutablePointer()
            for i in 0..<n { for j in 0..<outFeatures { p[j] += dy[i * outFeatures + j] } }
            bias.accumulate(gb)
        }
        guard savedMode == .input else { return nil }
        var gx = Tensor(uninitializedShape: input.shape)
        BLAS.gemm(
            m: n, n: inFeatures, k: outFeatures, a: dy, lda: outFeatures, b: weight.value.pointer,
            ldb: inFeatures, c: gx.mutablePointer(), ldc: inFeatures)
        return gx
    }

    public override func clearSaved() { savedInput = nil }
}
