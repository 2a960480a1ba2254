import Foundation

/// `graft-bench engine WORKLOAD [--iterations N] [--warmup K] [--batch B] [--size S]` prints one
/// JSON line: images/s (median step), peak memory and the step's GFLOP per image.
/// `graft-bench sgemm [--iterations N]` prints the machine's sgemm rate (GFLOP/s).
/// `benchmarks/run.sh` runs every workload here and in PyTorch and prints the ratios.
let usage = """
    usage: graft-bench engine WORKLOAD [--iterations N] [--warmup K] [--batch B] [--size S]
           graft-bench sgemm [--iterations N]
    workloads: \(EngineWorkload.allCases.map(\.rawValue).joined(separator: ", "))
    """

let arguments = Array(CommandLine.arguments.dropFirst())
func option(_ name: String) -> Int? {
    guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count else { return nil }
    return Int(arguments[i + 1])
}

if arguments.first == "sgemm" {
    print(runSgemmBenchmark(iterations: option("--iterations") ?? 5))
    exit(0)
}
guard arguments.count >= 2, arguments[0] == "engine", let workload = EngineWorkload(rawValue: arguments[1]) else {
    FileHandle.standardError.write(Data((usage + "\n").utf8))
    exit(2)
}
let result = runEngineBenchmark(workload, iterations: option("--iterations") ?? 5, warmup: option("--warmup") ?? 1,
                                batch: option("--batch"), imageSize: option("--size"))
print(result.json)
