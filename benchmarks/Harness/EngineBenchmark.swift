import Foundation
import GraftModels
import GraftNN
import GraftTensor

/// The engine workloads `make bench` compares with PyTorch. Each runs in its own process so
/// that peak memory (VmHWM) belongs to one workload.
enum EngineWorkload: String, CaseIterable {
    case resnet34Eval = "resnet34-eval"          // 224², batch 16, inference
    case resnet34Transfer = "resnet34-transfer"  // 224², batch 32, layer4 + 5-class head trainable
    case resnet34Full = "resnet34-full"          // 224², batch 32, everything trainable
    case vanillaTrain = "vanilla-train"          // 128², batch 64, train step

    var batch: Int {
        switch self {
        case .resnet34Eval: 16
        case .resnet34Transfer, .resnet34Full: 32
        case .vanillaTrain: 64
        }
    }

    var imageSize: Int { self == .vanillaTrain ? 128 : 224 }
}

struct EngineResult {
    var workload: String
    var batch: Int
    var imageSize: Int
    var imagesPerSecond: Double
    var stepSeconds: [Double]
    var peakMegabytes: Double

    var json: String {
        let steps = stepSeconds.map { String(format: "%.4f", $0) }.joined(separator: ",")
        return """
            {"engine":"graft","workload":"\(workload)","batch":\(batch),"image_size":\(imageSize),\
            "images_per_s":\(String(format: "%.3f", imagesPerSecond)),"peak_mb":\(String(format: "%.1f", peakMegabytes)),\
            "step_s":[\(steps)]}
            """
    }
}

/// Peak resident memory of this process in MB (Linux VmHWM).
func peakResidentMegabytes() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
        return kb / 1024
    }
    return 0
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? 0 : (s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2)
}

func runEngineBenchmark(_ workload: EngineWorkload, iterations: Int, warmup: Int, batch: Int? = nil,
                        imageSize: Int? = nil) -> EngineResult {
    let n = batch ?? workload.batch, size = imageSize ?? workload.imageSize
    var rng = RandomGenerator(seed: 1)
    let x = Tensor.normal([n, 3, size, size], std: 1, using: &rng)
    let labels = (0..<n).map { $0 % 5 }
    let model: Module
    var step: () -> Void
    switch workload {
    case .resnet34Eval:
        let m = ResNet(depth: .resnet34)
        m.eval()
        model = m
        step = { _ = m(x) }
    case .resnet34Transfer:
        let m = ResNet(depth: .resnet34)
        m.replaceHead(numClasses: 5)
        m.train()
        try! m.setTrainable(["layer4", "head"], batchNorm: .eval)
        model = m
        step = {
            m.zeroGrad()
            let logits = m.forward(x, mode: .parameters)
            _ = m.backward(CrossEntropy.lossAndGradient(logits: logits, labels: labels).gradient)
        }
    case .resnet34Full:
        let m = ResNet(depth: .resnet34)
        m.replaceHead(numClasses: 5)
        m.train()
        model = m
        step = {
            m.zeroGrad()
            let logits = m.forward(x, mode: .parameters)
            _ = m.backward(CrossEntropy.lossAndGradient(logits: logits, labels: labels).gradient)
        }
    case .vanillaTrain:
        let m = VanillaCNN(numClasses: 5)
        m.train()
        model = m
        step = {
            m.zeroGrad()
            let logits = m.forward(x, mode: .parameters)
            _ = m.backward(CrossEntropy.lossAndGradient(logits: logits, labels: labels).gradient)
        }
    }
    _ = model
    for _ in 0..<warmup { step() }
    var times: [Double] = []
    for _ in 0..<iterations {
        let start = DispatchTime.now().uptimeNanoseconds
        step()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return EngineResult(workload: workload.rawValue, batch: n, imageSize: size,
                        imagesPerSecond: Double(n) / median(times), stepSeconds: times,
                        peakMegabytes: peakResidentMegabytes())
}
