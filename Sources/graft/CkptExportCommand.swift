import ArgumentParser
import Foundation
import GraftCatalog
import GraftTraining

/// `graft ckpt export ID --output FILE.h5`, or `--run R --best val_acc` for a run's best.
struct CkptExport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a checkpoint's weights as a plain HDF5 weights file (for graft predict or --weights).")

    @OptionGroup var catalog: CatalogOptions
    @Argument(help: "Checkpoint id (or use --run with --best).") var id: Int64?
    @Option(name: .customLong("run"), help: "Export the best checkpoint of this run.") var runId: Int64?
    @Option(help: "Metric for --run: val_acc, val_loss, train_acc, train_loss.") var best: String = "val_acc"
    @Option(help: "The weights file to write.") var output: String

    func validate() throws {
        if (id == nil) == (runId == nil) {
            throw ValidationError("give a checkpoint id, or --run R (with --best METRIC)")
        }
    }

    mutating func run() throws {
        let db = try catalog.openExisting()
        var checkpointId = id
        if let run = runId {
            let metric = try CheckpointMetric.parse(best)
            guard let found = try db.bestCheckpoint(by: metric, filter: CheckpointFilter(run: run)) else {
                throw ValidationError("run \(run) has no checkpoint with \(metric.rawValue)")
            }
            checkpointId = found.checkpoint.id
        }
        let attributes = try TrainingCheckpoint.export(
            checkpoint: checkpointId!, from: db, to: URL(fileURLWithPath: output))
        print(
            "wrote \(output) from checkpoint \(checkpointId!): \(attributes.architecture), \(attributes.numClasses) classes (\(attributes.classNames.joined(separator: ", ")))"
        )
    }
}
