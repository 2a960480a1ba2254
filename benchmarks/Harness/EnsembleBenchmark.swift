import Foundation
import GraftData
import GraftEnsemble
import GraftModels
import GraftTensor
import GraftTraining
import GraftWeights

/// Resident memory of this process in MB (Linux VmRSS; 0 elsewhere).
private func residentMegabytes() -> Double {
    #if os(Linux)
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return (line.split(separator: " ").compactMap { Double($0) }.first ?? 0) / 1024
    }
    #endif
    return 0
}

/// Resets the kernel's peak-RSS mark (VmHWM) to the current RSS; false where not permitted, and
/// off Linux, which has no such reset.
private func resetPeakResident() -> Bool {
    #if os(Linux)
    guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
    defer { try? handle.close() }
    do { try handle.write(contentsOf: Data("5".utf8)) } catch { return false }
    return true
    #else
    return false
    #endif
}

/// Peak resident memory of a streaming ensemble evaluation against the number of members.
///
/// Writes `max(members)` vanilla-CNN members (10 classes, different seeds) and a synthetic
/// validation set of 1,024 images at 32×32, then evaluates the first M members with probability
/// and logit averaging, voting and SWA (BatchNorm recomputed on the same images), for each M in
/// ascending order. Before each M the kernel's peak mark is reset (`/proc/self/clear_refs`), so
/// each row's peak belongs to that evaluation; where the reset is refused, the peak is the
/// process's so far, which still shows growth with M. Flat peaks are the claim being measured.
/// - Returns: a table, one row per M: peak RSS, RSS before, the difference and seconds.
func runEnsembleMemoryBenchmark(members: [Int] = [1, 2, 4, 8]) -> String {
    let counts = members.filter { $0 > 0 }.sorted()
    guard let largest = counts.last else { return "no member counts given\n" }
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("graft-ensemble-bench-\(getpid())")
    defer { try? FileManager.default.removeItem(at: directory) }
    var files: [EnsembleMember] = []
    do {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let attributes = WeightsAttributes(
            modelID: "vanilla-cnn", architecture: "vanilla-cnn", numClasses: 10,
            inputSize: [3, 32, 32], mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5])
        for i in 0..<largest {
            let url = directory.appendingPathComponent("member\(i).h5")
            try WeightsFile.write(
                VanillaCNN(numClasses: 10, seed: UInt64(i + 1)).stateDict(), attributes: attributes, to: url)
            files.append(EnsembleMember(name: "seed \(i + 1)", url: url))
        }
    } catch {
        return "could not write the members: \(error.localizedDescription)\n"
    }
    var rng = RandomGenerator(seed: 42)
    let images = Tensor.normal([1024, 3, 32, 32], std: 1, using: &rng)
    let labels = (0..<1024).map { $0 % 10 }
    let validation = InMemoryBatchSource(images: images, labels: labels, batchSize: 128, shuffle: false)
    let training = InMemoryBatchSource(images: images, labels: labels, batchSize: 128, shuffle: true, seed: 1)

    var lines = [
        "ensemble memory: vanilla-cnn, 1024 validation images 3x32x32, methods probs,logits,vote,swa",
        "members  peak_mb  before_mb  peak-before_mb  seconds  probs_acc",
    ]
    var resets = true
    for m in counts {
        let before = residentMegabytes()
        resets = resetPeakResident() && resets
        let start = Date()
        let evaluator = EnsembleEvaluator(members: Array(files.prefix(m)), methods: EnsembleMethod.allCases)
        let accuracy: Double
        do {
            accuracy =
                try evaluator.evaluate(validation: validation, training: training).outcomes.first?.accuracy ?? .nan
        } catch {
            return lines.joined(separator: "\n") + "\nM=\(m) failed: \(error.localizedDescription)\n"
        }
        let seconds = Date().timeIntervalSince(start)
        let peak = peakResidentMegabytes()
        lines.append(
            String(format: "%7d  %7.1f  %9.1f  %14.1f  %7.2f  %9.4f", m, peak, before, peak - before, seconds, accuracy)
        )
    }
    if !resets { lines.append("(the peak mark could not be reset: peaks are cumulative over the rows above)") }
    return lines.joined(separator: "\n") + "\n"
}
