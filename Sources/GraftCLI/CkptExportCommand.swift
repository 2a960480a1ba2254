import ArgumentParser
import Foundation
import GraftCatalog
import GraftTraining

/// A checkpoint named on the command line: its id, or the best of a run by a metric.
struct CheckpointSelection: ParsableArguments {
    @Argument(help: "Checkpoint id (or use --run with --best).") var id: Int64?
    @Option(name: .customLong("run"), help: "The best checkpoint of this run.") var runId: Int64?
    @Option(help: "Metric for --run.") var best: CheckpointMetric = .valAcc

    func validate() throws {
        if (id == nil) == (runId == nil) {
            throw ValidationError("give a checkpoint id, or --run R (with --best METRIC)")
        }
    }

    /// The checkpoint's id.
    func resolve(in db: Catalog) throws -> Int64 { try Self.resolve(id: id, run: runId, best: best, in: db) }

    /// Checkpoint `id`, or the best of run `run` by `best`.
    static func resolve(id: Int64?, run: Int64?, best metric: CheckpointMetric, in db: Catalog) throws -> Int64 {
        if let id { return id }
        guard let run else { throw ValidationError("give a checkpoint id, or --run R (with --best METRIC)") }
        guard let found = try db.bestCheckpoint(by: metric, filter: CheckpointFilter(run: run)),
            let id = found.checkpoint.id
        else {
            throw ValidationError("run \(run) has no checkpoint with \(metric.rawValue)")
        }
        return id
    }
}

/// `graft ckpt export ID --output FILE.h5`, or `--run R --best val_acc` for a run's best.
struct CkptExport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a checkpoint's weights as a plain HDF5 weights file (for graft predict or --weights).",
        discussion: """
            With --ema the file holds the checkpoint's weight EMA (a run trained with --ema DECAY): a model \
            of its own, which evaluate, predict and export take with --weights, and ensemble as a member file \
            (--checkpoints 12,ema-12.h5).
            """)

    @OptionGroup var catalog: CatalogOptions
    @OptionGroup var checkpoint: CheckpointSelection
    @Option(help: "The weights file to write.") var output: String
    @Flag(help: "Write the checkpoint's weight EMA instead of its trained weights.") var ema = false

    mutating func run() throws {
        let db = try catalog.openExisting()
        let checkpointId = try checkpoint.resolve(in: db)
        let attributes = try TrainingCheckpoint.export(
            checkpoint: checkpointId, from: db, to: URL(fileURLWithPath: output), ema: ema)
        print(
            "wrote \(output) from checkpoint \(checkpointId)\(ema ? "'s weight EMA" : ""): \(attributes.architecture), \(attributes.numClasses) classes (\(attributes.classNames.joined(separator: ", ")))"
        )
    }
}
