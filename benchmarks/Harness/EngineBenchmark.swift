import Foundation
import GraftData
import GraftModels
import GraftNN
import GraftOptim
import GraftTensor
import GraftTraining

/// The engine workloads `make bench` compares with PyTorch. Each runs in its own process so
/// that peak memory (VmHWM) belongs to one workload.
enum EngineWorkload: String, CaseIterable {
    case resnet34Eval = "resnet34-eval"  // 224², batch 16, inference
    case resnet34Transfer = "resnet34-transfer"  // 224², batch 32, layer4 + 5-class head trainable
    case resnet34Full = "resnet34-full"  // 224², batch 32, everything trainable
    case vanillaTrain = "vanilla-train"  // 128², batch 64, train step
    case resnet18Transfer = "resnet18-transfer"  // as resnet34-transfer, with ResNet18
    case resnet18Full = "resnet18-full"  // as resnet34-full, with ResNet18
    /// A whole transfer fine-tuning run, as `graft train` does it: layer4 + head trained on a
    /// fixed set of images (128 by default) for 4 epochs in batches of 32, SGD steps included,
    /// through the trainer and its frozen-trunk feature cache.
    case resnet34TransferEpochs = "resnet34-transfer-epochs"

    /// For `resnet34-transfer-epochs`: images in the set and epochs per timed run.
    static let defaultImages = 128, defaultEpochs = 4

    var batch: Int {
        switch self {
        case .resnet34Eval: 16
        case .resnet34Transfer, .resnet34Full, .resnet34TransferEpochs, .resnet18Transfer, .resnet18Full: 32
        case .vanillaTrain: 64
        }
    }

    var imageSize: Int { self == .vanillaTrain ? 128 : 224 }

    /// The ResNet of a ResNet workload.
    var depth: ResNet.Depth { self == .resnet18Transfer || self == .resnet18Full ? .resnet18 : .resnet34 }
}

struct EngineResult {
    var workload: String
    var batch: Int
    var imageSize: Int
    var imagesPerSecond: Double
    var stepSeconds: [Double]
    var peakMegabytes: Double
    /// Peak resident memory before the model was built: the process and its libraries.
    var baselineMegabytes: Double
    var gflopPerImage: Double
    /// For whole runs (`resnet34-transfer-epochs`): the set's size and the epochs of one step.
    var run: (images: Int, epochs: Int)? = nil

    var json: String {
        let steps = stepSeconds.map { String(format: "%.4f", $0) }.joined(separator: ",")
        // Graft's whole runs go through the trainer's frozen-trunk feature cache.
        let runFields = run.map { "\"images\":\($0.images),\"epochs\":\($0.epochs),\"cached_trunk\":true," } ?? ""
        return """
            {"engine":"graft","workload":"\(workload)","batch":\(batch),"image_size":\(imageSize),\
            "images_per_s":\(String(format: "%.3f", imagesPerSecond)),"peak_mb":\(String(format: "%.1f", peakMegabytes)),\
            "baseline_mb":\(String(format: "%.1f", baselineMegabytes)),"threads":\(Elementwise.threads),\
            "gflop_per_image":\(String(format: "%.3f", gflopPerImage)),\(runFields)\
            "step_s":[\(steps)]}
            """
    }
}

/// Peak resident memory of this process in MB (Linux VmHWM; elsewhere getrusage's maximum
/// resident size, which no reset lowers).
func peakResidentMegabytes() -> Double {
    #if os(Linux)
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
        return kb / 1024
    }
    return 0
    #else
    var usage = rusage()
    guard getrusage(RUSAGE_SELF, &usage) == 0 else { return 0 }
    return Double(usage.ru_maxrss) / (1024 * 1024)  // bytes on macOS
    #endif
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? 0 : (s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2)
}

/// Times `iterations` steps of `workload` after `warmup` untimed ones. A step is one batch, or
/// for `resnet34-transfer-epochs` a whole run of `epochs` epochs over `images` images.
func runEngineBenchmark(
    _ workload: EngineWorkload, iterations: Int, warmup: Int, batch: Int? = nil,
    imageSize: Int? = nil, images: Int? = nil, epochs: Int? = nil
) -> EngineResult {
    let n = batch ?? workload.batch, size = imageSize ?? workload.imageSize
    let samples = images ?? EngineWorkload.defaultImages, epochs = epochs ?? EngineWorkload.defaultEpochs
    let baseline = peakResidentMegabytes()
    var rng = RandomGenerator(seed: 1)
    let x = Tensor.normal([n, 3, size, size], std: 1, using: &rng)
    let labels = (0..<n).map { $0 % 5 }
    /// Zero-grad, forward, cross-entropy and backward on the fixed batch (no optimizer step).
    func trainStep(_ m: Module) {
        m.zeroGrad()
        let logits = m.forward(x, mode: .parameters)
        _ = m.backward(CrossEntropy.lossAndGradient(logits: logits, labels: labels).gradient)
    }
    let model: Module
    var step: () -> Void
    switch workload {
    case .resnet34Eval:
        let m = ResNet(depth: .resnet34)
        m.eval()
        model = m
        step = { _ = m(x) }
    case .resnet34Transfer, .resnet18Transfer:
        let m = ResNet(depth: workload.depth)
        m.replaceHead(numClasses: 5)
        m.train()
        try! m.setTrainable(["layer4", "head"], batchNorm: .eval)
        model = m
        step = { trainStep(m) }
    case .resnet34Full, .resnet18Full:
        let m = ResNet(depth: workload.depth)
        m.replaceHead(numClasses: 5)
        m.train()
        model = m
        step = { trainStep(m) }
    case .vanillaTrain:
        let m = VanillaCNN(numClasses: 5)
        m.train()
        model = m
        step = { trainStep(m) }
    case .resnet34TransferEpochs:
        let m = ResNet(depth: .resnet34)
        m.replaceHead(numClasses: 5)
        model = m
        let images = Tensor.normal([samples, 3, size, size], std: 1, using: &rng)
        let source = InMemoryBatchSource(
            images: images, labels: (0..<samples).map { $0 % 5 }, batchSize: n,
            shuffle: true, seed: 1)
        var config = try! OptimizerConfig(parsing: "sgd")
        config.learningRate = 0.01
        config.momentum = 0.9
        step = {
            // A fresh trainer each time: its feature cache starts empty, as in a new run.
            let optimizer = try! Optimizer(config, parameters: m.namedParameters())
            let trainer = try! Trainer(
                model: m, optimizer: optimizer, schedule: ConstantLR(lr: 0.01),
                trainableBlocks: ["layer4", "head"])
            try! trainer.fit(train: source, validation: nil, epochs: epochs)
        }
    }
    _ = model
    let isRun = workload == .resnet34TransferEpochs
    let imagesPerStep = isRun ? samples * epochs : n
    for _ in 0..<warmup { step() }
    var times: [Double] = []
    for _ in 0..<iterations {
        let start = DispatchTime.now().uptimeNanoseconds
        step()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return EngineResult(
        workload: workload.rawValue, batch: n, imageSize: size,
        imagesPerSecond: Double(imagesPerStep) / median(times), stepSeconds: times,
        peakMegabytes: peakResidentMegabytes(), baselineMegabytes: baseline,
        gflopPerImage: workload.gflopPerImage(size: size),
        run: isRun ? (samples, epochs) : nil)
}

/// One convolution or linear layer of a workload: its multiply-adds per image, whether it
/// trains, and whether its input gradient is needed.
private struct LayerCost {
    var macs: Double
    var trainable: Bool
}

extension EngineWorkload {
    /// Floating-point operations (2 per multiply-add) of one image's step in convolutions and
    /// linear layers: the forward pass, plus for every trainable layer its weight gradient, plus
    /// the input gradient of every layer above the lowest trainable one. Elementwise work is not
    /// counted. Used for the fraction of the machine's sgemm peak a workload reaches.
    func gflopPerImage(size: Int) -> Double {
        var layers: [LayerCost] = []
        func conv(_ cin: Int, _ cout: Int, _ k: Int, _ stride: Int, _ pad: Int, _ s: inout Int, trainable: Bool) {
            let out = (s + 2 * pad - k) / stride + 1
            layers.append(LayerCost(macs: Double(cin * k * k * cout * out * out), trainable: trainable))
            s = out
        }
        switch self {
        case .resnet34TransferEpochs:
            return 0  // most steps skip the trunk: no fixed count per image
        case .resnet34Eval, .resnet34Transfer, .resnet34Full, .resnet18Transfer, .resnet18Full:
            let all = self == .resnet34Full || self == .resnet18Full, eval = self == .resnet34Eval
            let stageBlocks = depth == .resnet18 ? [2, 2, 2, 2] : [3, 4, 6, 3]
            var s = size
            conv(3, 64, 7, 2, 3, &s, trainable: all)
            s = (s + 2 - 3) / 2 + 1  // max pool
            var cin = 64
            for (stage, (channels, blocks)) in zip([64, 128, 256, 512], stageBlocks).enumerated() {
                let trains = !eval && (all || stage == 3)
                for b in 0..<blocks {
                    let stride = b == 0 && stage > 0 ? 2 : 1
                    var s1 = s, s2 = s
                    conv(cin, channels, 3, stride, 1, &s1, trainable: trains)
                    conv(channels, channels, 3, 1, 1, &s1, trainable: trains)
                    if stride != 1 || cin != channels { conv(cin, channels, 1, stride, 0, &s2, trainable: trains) }
                    s = s1
                    cin = channels
                }
            }
            layers.append(LayerCost(macs: Double(512 * (eval ? 1000 : 5)), trainable: !eval))
        case .vanillaTrain:
            var s = size, cin = 3
            for cout in [32, 64, 128, 256] {
                conv(cin, cout, 3, 1, 1, &s, trainable: true)
                s /= 2
                cin = cout
            }
            layers.append(LayerCost(macs: 1024 * 256, trainable: true))
            layers.append(LayerCost(macs: 256 * 5, trainable: true))
        }
        var macs = 0.0
        var trainableBelow = false
        for layer in layers {
            macs += layer.macs  // forward
            if layer.trainable { macs += layer.macs }  // weight gradient
            if trainableBelow { macs += layer.macs }  // input gradient
            trainableBelow = trainableBelow || layer.trainable
        }
        return 2 * macs / 1e9
    }
}

/// The machine's sgemm rate: for OpenBLAS and for oneDNN's JIT sgemm, the best median over
/// square products of a few sizes, on every core. The peak is the better of the two.
func runSgemmBenchmark(iterations: Int) -> String {
    let saved = BLAS.threadCount
    let cores = ProcessInfo.processInfo.activeProcessorCount
    BLAS.threadCount = cores
    defer { BLAS.threadCount = saved }
    var best = ["openblas": 0.0, "onednn": 0.0]
    for n in [512, 1024, 2048] {
        var rng = RandomGenerator(seed: 2)
        let a = Tensor.normal([n, n], std: 1, using: &rng), b = Tensor.normal([n, n], std: 1, using: &rng)
        var c = Tensor(uninitializedShape: [n, n])
        let cp = c.mutablePointer()
        for library in ["openblas", "onednn"] {
            var times: [Double] = []
            for i in 0...iterations {
                let start = DispatchTime.now().uptimeNanoseconds
                if library == "openblas" {
                    BLAS.gemm(m: n, n: n, k: n, a: a.pointer, lda: n, b: b.pointer, ldb: n, c: cp, ldc: n)
                } else if !BLAS.oneDNNGemm(m: n, n: n, k: n, a: a.pointer, lda: n, b: b.pointer, ldb: n, c: cp, ldc: n)
                {
                    break
                }
                if i > 0 { times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
            }
            if !times.isEmpty { best[library] = max(best[library]!, 2 * Double(n * n * n) / median(times) / 1e9) }
        }
    }
    let peak = max(best["openblas"]!, best["onednn"]!)
    return """
        {"engine":"sgemm","workload":"sgemm","threads":\(cores),"openblas_gflops":\(String(format: "%.1f", best["openblas"]!)),\
        "onednn_gflops":\(String(format: "%.1f", best["onednn"]!)),"gflops":\(String(format: "%.1f", peak))}
        """
}
