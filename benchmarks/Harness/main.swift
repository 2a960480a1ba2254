import Foundation
import GraftData
import GraftTensor

Threading.preferPassiveOpenMPWaiting()

/// `graft-bench engine WORKLOAD [--iterations N] [--warmup K] [--batch B] [--size S]` prints one
/// JSON line: images/s (median step), peak memory and the step's GFLOP per image.
/// `resnet34-transfer-epochs` also takes `--images N --epochs E`: a step is a whole run.
/// `graft-bench sgemm [--iterations N]` prints the machine's sgemm rate (GFLOP/s).
/// `graft-bench data FOLDER [--batch B]`: decode + Resize(256) + CenterCrop(224) + Normalize
/// images/s over a folder of JPEGs (Pillow's side: `benchmarks/pillow.py`); with `--augment
/// PRESET`, the training pipeline of that preset.
/// `graft-bench catalog [--rows N]`: catalog query times over N checkpoint rows.
/// `graft-bench layers resnet18|resnet34 [--batch B] [--size S]`: a full step's convolutions,
/// BatchNorms and ReLUs timed one by one (batch 128, 32² unless told).
/// `graft-bench ensemble`: peak memory of streaming ensemble evaluation for 1, 2, 4, 8 members.
/// `graft-bench export-onnx FILE`: resnet34-eval's model (the same random weights) exported by
/// `graft export`'s code, for ONNX Runtime to run Graft's own file.
/// `benchmarks/run.sh` runs every workload here and in PyTorch and prints the ratios.
let usage = """
    usage: graft-bench engine WORKLOAD [--iterations N] [--warmup K] [--batch B] [--size S] [--small-map P]
                                      [--images N --epochs E]   (resnet34-transfer-epochs)
           graft-bench sgemm [--iterations N]
           graft-bench data FOLDER [--batch B] [--augment light|standard|strong]
           graft-bench catalog [--rows N]
           graft-bench ensemble
           graft-bench layers resnet18|resnet34 [--batch B] [--size S] [--iterations N]
           graft-bench export-onnx FILE
    workloads: \(EngineWorkload.allCases.map(\.rawValue).joined(separator: ", "))
    """

let arguments = Array(CommandLine.arguments.dropFirst())
func option(_ name: String) -> Int? {
    guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count else { return nil }
    return Int(arguments[i + 1])
}

// `--small-map P`: convolutions with at most P output positions per image run as per-position
// products (ConvKernels.usesSmallMap); 0 runs them on the kernels they replace, for comparison.
if let positions = option("--small-map") { ConvKernels.smallMapMaximumPositions = positions }

switch arguments.first {
case "data" where arguments.count >= 2:
    do {
        var preset: Augmentation.Preset? = nil
        if let i = arguments.firstIndex(of: "--augment"), i + 1 < arguments.count {
            guard let p = Augmentation.Preset(rawValue: arguments[i + 1]) else {
                throw DataError.invalidArgument("--augment \(arguments[i + 1]): not light, standard or strong")
            }
            preset = p
        }
        let r = try runDataBenchmark(
            folder: URL(fileURLWithPath: arguments[1]), batch: option("--batch") ?? 32, augment: preset)
        let workload = preset.map { "jpeg-pipeline-augment-\($0.rawValue)" } ?? "jpeg-pipeline"
        print(
            "{\"engine\":\"graft\",\"workload\":\"\(workload)\","
                + String(
                    format: "\"images_per_s\":%.1f,\"images\":%d,\"seconds\":%.3f,\"failed\":%d}",
                    r.imagesPerSecond, r.images, r.seconds, r.failed))
    } catch {
        FileHandle.standardError.write(Data("graft-bench data: \(error.localizedDescription)\n".utf8))
        exit(1)
    }
    exit(0)
case "catalog":
    print(runCatalogBenchmark(rows: option("--rows") ?? 100_000))
    exit(0)
case "ensemble":
    print(runEnsembleMemoryBenchmark())
    exit(0)
case "layers" where arguments.count >= 2 && (arguments[1] == "resnet18" || arguments[1] == "resnet34"):
    print(
        runLayerProfile(
            depth: arguments[1] == "resnet18" ? .resnet18 : .resnet34, batch: option("--batch") ?? 128,
            size: option("--size") ?? 32, iterations: option("--iterations") ?? 5))
    exit(0)
case "export-onnx" where arguments.count >= 2:
    do {
        try exportEvalModel(to: URL(fileURLWithPath: arguments[1]))
    } catch {
        FileHandle.standardError.write(Data("graft-bench export-onnx: \(error.localizedDescription)\n".utf8))
        exit(1)
    }
    exit(0)
default:
    break
}

if arguments.first == "sgemm" {
    print(runSgemmBenchmark(iterations: option("--iterations") ?? 5))
    exit(0)
}
guard arguments.count >= 2, arguments[0] == "engine", let workload = EngineWorkload(rawValue: arguments[1]) else {
    FileHandle.standardError.write(Data((usage + "\n").utf8))
    exit(2)
}
let result = runEngineBenchmark(
    workload, iterations: option("--iterations") ?? 5, warmup: option("--warmup") ?? 1,
    batch: option("--batch"), imageSize: option("--size"),
    images: option("--images"), epochs: option("--epochs"))
print(result.json)
