import Foundation
import GraftNN
import GraftTensor

/// The element-wise update rules, transcribed from PyTorch's single-tensor implementations.
///
/// Tensor arithmetic is float32; a Python-float hyper-parameter enters a tensor op rounded to
/// float32 (PyTorch's CPU kernels compute float tensors in float), while step sizes and bias
/// corrections are computed in double first, as PyTorch does in Python.
enum UpdateRules {
    static func apply(
        _ c: OptimizerConfig, lr: Double, parameter: Parameter, grad: Tensor, state s: inout ParameterState
    ) {
        let n = grad.count
        let shape = parameter.value.shape
        let p = parameter.value.mutablePointer()
        withExtendedLifetime(grad) {
            let g = grad.pointer
            switch c.kind {
            case .sgd: sgd(c, lr: lr, p: p, g: g, n: n, shape: shape, state: &s)
            case .adagrad: adagrad(c, lr: lr, p: p, g: g, n: n, shape: shape, state: &s)
            case .adadelta: adadelta(c, lr: lr, p: p, g: g, n: n, shape: shape, state: &s)
            case .rmsprop: rmsprop(c, lr: lr, p: p, g: g, n: n, shape: shape, state: &s)
            case .adam, .adamw: adam(c, lr: lr, p: p, g: g, n: n, shape: shape, state: &s)
            case .adamax: adamax(c, lr: lr, p: p, g: g, n: n, shape: shape, state: &s)
            }
        }
    }

    /// Removes a buffer from the state for in-place work (so its storage is uniquely owned), or
    /// makes a new one filled with `fill`. `fresh` tells whether it was just created.
    private static func take(
        _ name: String, from s: inout ParameterState, shape: [Int], fill: Float
    ) -> (tensor: Tensor, fresh: Bool) {
        if let t = s.buffers.removeValue(forKey: name), t.shape == shape { return (t, false) }
        return (Tensor(shape: shape, repeating: fill), true)
    }

    /// `torch.lerp(a, b, w)` for a scalar weight, in PyTorch's two-branch form.
    @inline(__always)
    private static func lerp(_ a: Float, _ b: Float, _ w: Float) -> Float {
        w < 0.5 ? a + w * (b - a) : b - (b - a) * (1 - w)
    }

    /// `_single_tensor_sgd`: `g += wd·p`; the momentum buffer starts as a copy of `g` (no
    /// dampening on the first step), then `buf = m·buf + (1−dampening)·g`; Nesterov steps with
    /// `g + m·buf`; `p −= lr·step`.
    private static func sgd(
        _ c: OptimizerConfig, lr: Double, p: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>,
        n: Int, shape: [Int], state s: inout ParameterState
    ) {
        let wd = Float(c.weightDecay), negLr = Float(-lr)
        let useWd = c.weightDecay != 0, maximize = c.maximize
        if c.momentum == 0 {
            for i in 0..<n {
                var gi = maximize ? -g[i] : g[i]
                if useWd { gi = gi + wd * p[i] }
                p[i] = p[i] + negLr * gi
            }
            return
        }
        let m = Float(c.momentum), keep = Float(1 - c.dampening), nesterov = c.nesterov
        var (buffer, fresh) = take("momentum_buffer", from: &s, shape: shape, fill: 0)
        let b = buffer.mutablePointer()
        for i in 0..<n {
            var gi = maximize ? -g[i] : g[i]
            if useWd { gi = gi + wd * p[i] }
            b[i] = fresh ? gi : b[i] * m + keep * gi
            let d = nesterov ? gi + m * b[i] : b[i]
            p[i] = p[i] + negLr * d
        }
        s.buffers["momentum_buffer"] = buffer
    }

    /// `_single_tensor_adagrad`: `clr = lr / (1 + (step−1)·lr_decay)`, `sum += g²` (starting at
    /// `initial_accumulator_value`), `p −= clr·g / (√sum + eps)`.
    private static func adagrad(
        _ c: OptimizerConfig, lr: Double, p: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>,
        n: Int, shape: [Int], state s: inout ParameterState
    ) {
        let wd = Float(c.weightDecay), useWd = c.weightDecay != 0, maximize = c.maximize
        let clr = lr / (1 + Double(s.step - 1) * c.lrDecay)
        let negClr = Float(-clr), eps = Float(c.eps)
        var (sum, _) = take("sum", from: &s, shape: shape, fill: Float(c.initialAccumulatorValue))
        let acc = sum.mutablePointer()
        for i in 0..<n {
            var gi = maximize ? -g[i] : g[i]
            if useWd { gi = gi + wd * p[i] }
            acc[i] = acc[i] + gi * gi
            let std = acc[i].squareRoot() + eps
            p[i] = p[i] + negClr * gi / std
        }
        s.buffers["sum"] = sum
    }

    /// `_single_tensor_adadelta`: `sq = ρ·sq + (1−ρ)g²`, `δ = √(acc+eps)/√(sq+eps)·g` (eps inside
    /// both roots), `acc = ρ·acc + (1−ρ)δ²`, `p −= lr·δ` (lr is a multiplier, default 1).
    private static func adadelta(
        _ c: OptimizerConfig, lr: Double, p: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>,
        n: Int, shape: [Int], state s: inout ParameterState
    ) {
        let wd = Float(c.weightDecay), useWd = c.weightDecay != 0, maximize = c.maximize
        let rho = Float(c.rho), oneMinusRho = Float(1 - c.rho), eps = Float(c.eps), negLr = Float(-lr)
        var (squareAvg, _) = take("square_avg", from: &s, shape: shape, fill: 0)
        var (accDelta, _) = take("acc_delta", from: &s, shape: shape, fill: 0)
        let sq = squareAvg.mutablePointer(), acc = accDelta.mutablePointer()
        for i in 0..<n {
            var gi = maximize ? -g[i] : g[i]
            if useWd { gi = gi + wd * p[i] }
            sq[i] = sq[i] * rho + oneMinusRho * gi * gi
            let std = (sq[i] + eps).squareRoot()
            var delta = (acc[i] + eps).squareRoot()
            delta = delta / std * gi
            acc[i] = acc[i] * rho + oneMinusRho * delta * delta
            p[i] = p[i] + negLr * delta
        }
        s.buffers["square_avg"] = squareAvg
        s.buffers["acc_delta"] = accDelta
    }

    /// `_single_tensor_rmsprop`: `sq = α·sq + (1−α)g²`; centered: `ga = lerp(ga, g, 1−α)`,
    /// `avg = √(sq − ga²) + eps`, else `avg = √sq + eps` (eps outside the root); with momentum
    /// `buf = m·buf + g/avg`, `p −= lr·buf`, else `p −= lr·g/avg`.
    private static func rmsprop(
        _ c: OptimizerConfig, lr: Double, p: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>,
        n: Int, shape: [Int], state s: inout ParameterState
    ) {
        let wd = Float(c.weightDecay), useWd = c.weightDecay != 0, maximize = c.maximize
        let alpha = Float(c.alpha), oneMinusAlpha = Float(1 - c.alpha), eps = Float(c.eps), negLr = Float(-lr)
        let centered = c.centered, useMomentum = c.momentum > 0, m = Float(c.momentum)
        var (squareAvg, _) = take("square_avg", from: &s, shape: shape, fill: 0)
        let sq = squareAvg.mutablePointer()
        var gradAvg = centered ? take("grad_avg", from: &s, shape: shape, fill: 0).tensor : Tensor(shape: [0])
        var momentumBuffer =
            useMomentum
            ? take("momentum_buffer", from: &s, shape: shape, fill: 0).tensor : Tensor(shape: [0])
        let ga = gradAvg.mutablePointer(), buf = momentumBuffer.mutablePointer()
        for i in 0..<n {
            var gi = maximize ? -g[i] : g[i]
            if useWd { gi = gi + wd * p[i] }
            sq[i] = sq[i] * alpha + oneMinusAlpha * gi * gi
            var avg: Float
            if centered {
                ga[i] = lerp(ga[i], gi, oneMinusAlpha)
                avg = (sq[i] + -1 * ga[i] * ga[i]).squareRoot()
            } else {
                avg = sq[i].squareRoot()
            }
            avg = avg + eps
            if useMomentum {
                buf[i] = buf[i] * m + 1 * gi / avg
                p[i] = p[i] + negLr * buf[i]
            } else {
                p[i] = p[i] + negLr * gi / avg
            }
        }
        s.buffers["square_avg"] = squareAvg
        if centered { s.buffers["grad_avg"] = gradAvg }
        if useMomentum { s.buffers["momentum_buffer"] = momentumBuffer }
    }

    /// `_single_tensor_adam` (AdamW: `decoupled_weight_decay`): `m = lerp(m, g, 1−β1)`,
    /// `v = β2·v + (1−β2)g²`, `p −= lr/bc1 · m / (√v/√bc2 + eps)` with `bc = 1 − βᵗ` in double;
    /// amsgrad uses `max(vmax, v)`. Adam adds `wd·p` to `g`; AdamW first scales `p` by `1 − lr·wd`.
    private static func adam(
        _ c: OptimizerConfig, lr: Double, p: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>,
        n: Int, shape: [Int], state s: inout ParameterState
    ) {
        let decoupled = c.kind == .adamw, maximize = c.maximize
        let coupledWd = !decoupled && c.weightDecay != 0, wd = Float(c.weightDecay)
        let decoupledWd = decoupled && c.weightDecay != 0, decay = Float(1 - lr * c.weightDecay)
        let w1 = Float(1 - c.beta1), beta2 = Float(c.beta2), oneMinusBeta2 = Float(1 - c.beta2)
        let t = Double(s.step)
        let bc1 = 1 - pow(c.beta1, t), bc2 = 1 - pow(c.beta2, t)
        let negStepSize = Float(-(lr / bc1)), bc2Sqrt = Float(pow(bc2, 0.5)), eps = Float(c.eps)
        let amsgrad = c.amsgrad
        var (expAvg, _) = take("exp_avg", from: &s, shape: shape, fill: 0)
        var (expAvgSq, _) = take("exp_avg_sq", from: &s, shape: shape, fill: 0)
        var maxExpAvgSq = amsgrad ? take("max_exp_avg_sq", from: &s, shape: shape, fill: 0).tensor : Tensor(shape: [0])
        let m = expAvg.mutablePointer(), v = expAvgSq.mutablePointer(), vmax = maxExpAvgSq.mutablePointer()
        for i in 0..<n {
            var gi = maximize ? -g[i] : g[i]
            if decoupledWd { p[i] = p[i] * decay }
            if coupledWd { gi = gi + wd * p[i] }
            m[i] = lerp(m[i], gi, w1)
            v[i] = v[i] * beta2 + oneMinusBeta2 * gi * gi
            let denom: Float
            if amsgrad {
                vmax[i] = max(vmax[i], v[i])
                denom = vmax[i].squareRoot() / bc2Sqrt + eps
            } else {
                denom = v[i].squareRoot() / bc2Sqrt + eps
            }
            p[i] = p[i] + negStepSize * m[i] / denom
        }
        s.buffers["exp_avg"] = expAvg
        s.buffers["exp_avg_sq"] = expAvgSq
        if amsgrad { s.buffers["max_exp_avg_sq"] = maxExpAvgSq }
    }

    /// `_single_tensor_adamax`: `m = lerp(m, g, 1−β1)`, `u = max(β2·u, |g| + eps)` (eps inside
    /// the max), `p −= lr/(1−β1ᵗ) · m/u`.
    private static func adamax(
        _ c: OptimizerConfig, lr: Double, p: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>,
        n: Int, shape: [Int], state s: inout ParameterState
    ) {
        let wd = Float(c.weightDecay), useWd = c.weightDecay != 0, maximize = c.maximize
        let w1 = Float(1 - c.beta1), beta2 = Float(c.beta2), eps = Float(c.eps)
        let negClr = Float(-(lr / (1 - pow(c.beta1, Double(s.step)))))
        var (expAvg, _) = take("exp_avg", from: &s, shape: shape, fill: 0)
        var (expInf, _) = take("exp_inf", from: &s, shape: shape, fill: 0)
        let m = expAvg.mutablePointer(), u = expInf.mutablePointer()
        for i in 0..<n {
            var gi = maximize ? -g[i] : g[i]
            if useWd { gi = gi + wd * p[i] }
            m[i] = lerp(m[i], gi, w1)
            u[i] = max(u[i] * beta2, abs(gi) + eps)
            p[i] = p[i] + negClr * m[i] / u[i]
        }
        s.buffers["exp_avg"] = expAvg
        s.buffers["exp_inf"] = expInf
    }
}
