import Foundation
import GraftCatalog

/// The workload of `graft-catalog-stress`, used by the reliability tests: several such processes
/// write to one catalog at once, or one is killed at random moments while saving checkpoint files.
enum CatalogStress {
    /// What a stress run wrote.
    struct Summary: Sendable, Equatable {
        var runId: Int64
        var epochRows: Int
        var checkpoints: Int
    }

    /// Creates a run named `tag`, then `rows` times records an epoch and, when `filesDirectory`
    /// is given, saves a checkpoint file of 32–160 KiB of random bytes under
    /// `filesDirectory/<tag>/` through `saveCheckpoint`. Marks the run finished at the end.
    /// - Parameter progress: called after each row (the CLI prints a line per row when asked).
    static func run(
        catalog: Catalog, rows: Int, tag: String, filesDirectory: URL?,
        progress: (Int) -> Void = { _ in }
    ) throws -> Summary {
        let run = try catalog.createRun(
            RunRecord(
                name: tag, modelId: "stress", optimizer: "sgd", optimizerParams: #"{"lr":0.1}"#,
                schedule: "triangular", scheduleParams: #"{"step_size":2}"#, seed: 0, batchSize: 1, epochsPlanned: rows)
        )
        let runId = run.id!
        try catalog.markRun(runId, status: .running)
        var saved = 0
        var generator = SystemRandomNumberGenerator()
        for i in 0..<rows {
            let acc = Double(i % 97) / 97
            try catalog.recordEpoch(
                EpochMetricRecord(
                    runId: runId, epoch: i, globalStep: Int64(i * 10),
                    trainLoss: 1 - acc, trainAcc: acc, valLoss: 1 - acc,
                    valAcc: acc, lr: 0.1, seconds: 0))
            if let dir = filesDirectory {
                let url = dir.appendingPathComponent(tag, isDirectory: true)
                    .appendingPathComponent(String(format: "epoch-%06d.h5", i))
                let bytes = Int.random(in: 32_768...163_840, using: &generator)
                let draft = CheckpointRecord(
                    runId: runId, epoch: i, globalStep: Int64(i * 10), lr: 0.1,
                    cycleIndex: i / 4, isMinimum: i % 4 == 3, valAcc: acc,
                    reasons: i % 4 == 3 ? [.periodic, .minimum] : [.periodic])
                try catalog.saveCheckpoint(draft, to: url) { temp in
                    try writeRandomFile(temp, bytes: bytes, using: &generator)
                }
                saved += 1
            }
            progress(i + 1)
        }
        try catalog.markRun(runId, status: .finished)
        return Summary(runId: runId, epochRows: rows, checkpoints: saved)
    }

    /// Writes `bytes` random bytes in 16 KiB chunks (slowly enough for a kill to land mid-write).
    static func writeRandomFile(_ url: URL, bytes: Int, using generator: inout SystemRandomNumberGenerator) throws {
        let fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw StressError("\(url.path): cannot create: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let chunk = 16_384
        let buffer = UnsafeMutablePointer<UInt64>.allocate(capacity: chunk / 8)
        defer { buffer.deallocate() }
        var remaining = bytes
        while remaining > 0 {
            for j in 0..<(chunk / 8) { buffer[j] = generator.next() }
            let n = min(chunk, remaining)
            var written = 0
            while written < n {
                let w = Foundation.write(fd, UnsafeRawPointer(buffer) + written, n - written)
                if w < 0 {
                    if errno == EINTR { continue }
                    throw StressError("\(url.path): cannot write: \(String(cString: strerror(errno)))")
                }
                written += w
            }
            remaining -= n
        }
    }
}

struct StressError: LocalizedError {
    let errorDescription: String?
    init(_ message: String) { errorDescription = message }
}
