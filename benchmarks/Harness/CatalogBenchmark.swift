import Foundation
import GraftCatalog

/// Catalog query times over `rows` checkpoint rows (default use: 100,000), on a temporary file
/// catalog: the queries `graft ckpt list|best` and snapshot-ensemble selection issue.
/// Rows are inserted directly (no files), spread over runs of six optimizers.
/// Returns a small report: one line per query with the median of 5 timings.
func runCatalogBenchmark(rows: Int = 100_000) -> String {
    do {
        return try catalogBenchmark(rows: rows)
    } catch {
        return "catalog benchmark failed: \(error.localizedDescription)\n"
    }
}

private func catalogBenchmark(rows: Int) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("graft-catalog-bench-\(getpid())")
    try? FileManager.default.removeItem(at: dir)
    defer { try? FileManager.default.removeItem(at: dir) }
    let catalog = try Catalog.open(at: dir.appendingPathComponent("catalog.sqlite").path)

    let optimizers = ["adagrad", "adadelta", "rmsprop", "adam", "adamax", "sgd-clr"]
    let perRun = 200
    let runCount = max(1, (rows + perRun - 1) / perRun)
    let insertStart = Date()
    var runIds: [Int64] = []
    for r in 0..<runCount {
        let run = try catalog.createRun(
            RunRecord(
                modelId: "vanilla-cnn", optimizer: optimizers[r % optimizers.count],
                seed: Int64(r), batchSize: 64, epochsPlanned: perRun))
        runIds.append(run.id!)
    }
    var generator = SystemRandomNumberGenerator()
    let now = Date()
    var rowValues: [[SQLValue]] = []
    rowValues.reserveCapacity(rows)
    for i in 0..<rows {
        let run = runIds[i / perRun]
        let epoch = i % perRun
        let acc = Double.random(in: 0.5...0.95, using: &generator)
        let minimum = epoch % 8 == 7
        let values: [any SQLBindable] = [
            run, epoch, epoch * 100, 0.01, epoch / 8, minimum, 1 - acc, acc, 1.1 - acc, acc,
            "checkpoints/run-\(run)/epoch-\(epoch).h5", 85_000_000,
            String(repeating: "0", count: 64), true, minimum ? "periodic,minimum" : "periodic", now,
        ]
        rowValues.append(values.map(\.sqlValue))
    }
    try catalog.insertRows(
        into: "checkpoint",
        columns: [
            "run_id", "epoch", "global_step", "lr", "cycle_index", "is_minimum", "train_loss", "train_acc",
            "val_loss", "val_acc", "path", "bytes", "sha256", "has_optimizer_state", "kind", "created_at",
        ],
        rows: rowValues)
    let insertSeconds = Date().timeIntervalSince(insertStart)

    func median(_ body: () throws -> Int) rethrows -> (ms: Double, count: Int) {
        var times: [Double] = []
        var count = 0
        for _ in 0..<5 {
            let t = Date()
            count = try body()
            times.append(Date().timeIntervalSince(t) * 1000)
        }
        return (times.sorted()[2], count)
    }
    let someRun = runIds[runIds.count / 2]
    let queries: [(String, () throws -> Int)] = [
        ("ckpt list --run R", { try catalog.checkpoints(filter: CheckpointFilter(run: someRun)).count }),
        (
            "ckpt list --run R --minima",
            {
                try catalog.checkpoints(filter: CheckpointFilter(run: someRun, minimaOnly: true)).count
            }
        ),
        ("ckpt best --by val_acc", { try catalog.bestCheckpoints(by: .valAcc).count }),
        ("ckpt best --by val_loss", { try catalog.bestCheckpoints(by: .valLoss).count }),
        (
            "ckpt best --by val_acc --per optimizer",
            { try catalog.bestCheckpoints(by: .valAcc, perOptimizer: true).count }
        ),
        (
            "ckpt list --min-val-acc 0.949",
            { try catalog.checkpoints(filter: CheckpointFilter(minValAcc: 0.949)).count }
        ),
        (
            "ckpt list --optimizer adam --epoch 10..20 --minima",
            {
                try catalog.checkpoints(
                    filter: CheckpointFilter(optimizer: "adam", epochRange: 10...20, minimaOnly: true)
                ).count
            }
        ),
        (
            "checkpoint(id:) x100",
            {
                for k in 0..<100 { _ = try catalog.checkpoint(id: Int64(1 + (k * 997) % rows)) }
                return 100
            }
        ),
    ]
    var out =
        "catalog: \(rows) checkpoint rows in \(runCount) runs (inserted in \(String(format: "%.2f", insertSeconds)) s)\n"
    for (name, body) in queries {
        let (ms, count) = try median(body)
        let label = name.padding(toLength: max(name.count, 52), withPad: " ", startingAt: 0)
        out += "  \(label) " + String(format: "%9.3f ms  (%d rows)\n", ms, count)
    }
    return out
}
