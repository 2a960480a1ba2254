import Foundation
import GraftModels
import GraftNN
import GraftTensor

/// `graft-bench layers resnet18|resnet34 [--batch B] [--size S] [--iterations N]`: where a full
/// training step's time goes, layer by layer. Each convolution of the ResNet runs on its own with
/// the step's shapes (forward, input gradient, weight gradient), and each BatchNorm (train mode,
/// forward and backward) and ReLU (forward and backward) on that convolution's output: the median
/// milliseconds of each, the kernel each pass runs, and totals by kind. The layers run apart, so
/// the totals leave out what lies between them (residual sums, pooling, the head, the hand-offs).
func runLayerProfile(depth: ResNet.Depth, batch n: Int, size: Int, iterations: Int) -> String {
    struct Layer {
        var name: String
        var geometry: ConvGeometry
        var height: Int
        var needsInputGradient: Bool
    }
    var layers: [Layer] = []
    var s = size
    layers.append(
        Layer(
            name: "stem", geometry: ConvGeometry(inChannels: 3, outChannels: 64, kernel: 7, stride: 2, padding: 3),
            height: s, needsInputGradient: false))
    s = (s + 6 - 7) / 2 + 1
    s = (s + 2 - 3) / 2 + 1  // max pool
    var cin = 64
    for (stage, (channels, blocks)) in zip([64, 128, 256, 512], depth.blockCounts).enumerated() {
        for b in 0..<blocks {
            let stride = b == 0 && stage > 0 ? 2 : 1
            let prefix = "layer\(stage + 1).\(b)"
            let g1 = ConvGeometry(inChannels: cin, outChannels: channels, kernel: 3, stride: stride, padding: 1)
            layers.append(Layer(name: "\(prefix).conv1", geometry: g1, height: s, needsInputGradient: true))
            let s1 = g1.outputSize(s, s).0
            let g2 = ConvGeometry(inChannels: channels, outChannels: channels, kernel: 3, stride: 1, padding: 1)
            layers.append(Layer(name: "\(prefix).conv2", geometry: g2, height: s1, needsInputGradient: true))
            if stride != 1 || cin != channels {
                let gd = ConvGeometry(inChannels: cin, outChannels: channels, kernel: 1, stride: stride)
                layers.append(Layer(name: "\(prefix).downsample", geometry: gd, height: s, needsInputGradient: true))
            }
            s = s1
            cin = channels
        }
    }
    func milliseconds(_ body: () -> Void) -> Double {
        body()
        var times: [Double] = []
        for _ in 0..<iterations {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        return median(times)
    }
    var rng = RandomGenerator(seed: 3)
    var rows: [String] = []
    var totals: [String: Double] = [:]
    let workspace = Workspace()
    for layer in layers {
        let g = layer.geometry, h = layer.height
        let (oh, ow) = g.outputSize(h, h)
        let x = Tensor.normal([n, g.inChannels, h, h], std: 1, using: &rng)
        let w = Tensor.normal([g.outChannels, g.inChannels, g.kernel, g.kernel], std: 0.05, using: &rng)
        let dy = Tensor.normal([n, g.outChannels, oh, ow], std: 1, using: &rng)
        var dw = Tensor.zeros(w.shape)
        let dwp = dw.mutablePointer()
        let forward = milliseconds { _ = ConvKernels.forward(input: x, weight: w, bias: nil, g, workspace: workspace) }
        let inputGradient =
            layer.needsInputGradient
            ? milliseconds {
                _ = ConvKernels.backward(
                    input: x, weight: w, outputGradient: dy, g, weightGradient: nil, biasGradient: nil,
                    needInput: true, workspace: workspace)
            } : 0
        let weightGradient = milliseconds {
            _ = ConvKernels.backward(
                input: x, weight: w, outputGradient: dy, g, weightGradient: dwp, biasGradient: nil,
                needInput: false, workspace: workspace)
        }
        let bn = BatchNorm2d(g.outChannels)
        bn.train()
        let batchNorm = milliseconds {
            _ = bn.forward(dy, mode: .input)
            _ = bn.backward(dy)
        }
        let relu = ReLU()
        let reluTime = milliseconds {
            _ = relu.forward(dy, mode: .input)
            _ = relu.backward(dy)
        }
        let kernel =
            ConvKernels.implementation(g, batch: n, height: h, width: h, bias: false, pass: .forward) ?? "im2col+sgemm"
        rows.append(
            "| \(layer.name) | \(g.inChannels)→\(g.outChannels) k\(g.kernel) s\(g.stride) | \(h)²→\(oh)² | \(kernel) | "
                + [forward, inputGradient, weightGradient, batchNorm, reluTime].map { String(format: "%.2f", $0) }
                .joined(separator: " | ") + " |")
        totals["conv forward", default: 0] += forward
        totals["conv input gradient", default: 0] += inputGradient
        totals["conv weight gradient", default: 0] += weightGradient
        totals["BatchNorm forward+backward", default: 0] += batchNorm
        totals["ReLU forward+backward", default: 0] += reluTime
    }
    var out =
        "ResNet\(depth.rawValue), batch \(n), \(size)², \(Elementwise.threads) threads; median of \(iterations) (ms)\n\n"
    out +=
        "| layer | conv | spatial | forward kernel | forward | input grad | weight grad | BN fwd+bwd | ReLU fwd+bwd |\n"
    out += "|---|---|---|---|---:|---:|---:|---:|---:|\n"
    out += rows.joined(separator: "\n") + "\n\n"
    let sum = totals.values.reduce(0, +)
    for (kind, ms) in totals.sorted(by: { $0.value > $1.value }) {
        out += String(format: "%@: %.1f ms (%.0f%%)\n", kind, ms, 100 * ms / sum)
    }
    return out
}
