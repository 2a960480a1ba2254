import Foundation
import ArgumentParser
import GraftCatalog
import GraftReport
import GraftTraining

/// `graft ckpt list|best|show|prune|export`: the checkpoints recorded in the catalog.
struct CkptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ckpt",
        abstract: "Query, inspect and prune checkpoints.",
        subcommands: [List.self, Best.self, Show.self, Prune.self, CkptExport.self],
        defaultSubcommand: List.self)

    /// Filters shared by `list` and `best`.
    struct Filters: ParsableArguments {
        @Option(help: "Only checkpoints of this run id.") var run: Int64?
        @Option(help: "Only checkpoints of runs with this optimizer.") var optimizer: String?
        @Option(help: "Only checkpoints of runs of this comparison id.") var comparison: Int64?
        @Option(help: ArgumentHelp("Only epochs in this range: A..B, A.., ..B or A.", valueName: "A..B"))
        var epoch: String?
        @Flag(help: "Only checkpoints taken at a schedule minimum.") var minima = false
        @Option(help: "Only checkpoints with at least this validation accuracy (0…1).") var minValAcc: Double?

        func validate() throws { _ = try epochRange() }

        func epochRange() throws -> ClosedRange<Int>? {
            guard let epoch else { return nil }
            let text = epoch.replacingOccurrences(of: "...", with: "..")
            if let single = Int(text) { return single...single }
            let parts = text.components(separatedBy: "..")
            guard parts.count == 2 else { throw ValidationError("--epoch '\(epoch)': expected A..B, A.., ..B or A") }
            let lower = parts[0].isEmpty ? 0 : Int(parts[0])
            let upper = parts[1].isEmpty ? Int.max : Int(parts[1])
            guard let lower, let upper, lower <= upper else {
                throw ValidationError("--epoch '\(epoch)': expected A..B with A <= B")
            }
            return lower...upper
        }

        func filter(limit: Int? = nil) throws -> CheckpointFilter {
            CheckpointFilter(
                run: run, optimizer: optimizer, comparisonId: comparison, epochRange: try epochRange(),
                minimaOnly: minima, minValAcc: minValAcc, limit: limit)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List checkpoints by run, epoch and step.")
        @OptionGroup var catalog: CatalogOptions
        @OptionGroup var output: OutputOptions
        @OptionGroup var filters: Filters
        @Option(help: "At most this many rows.") var limit: Int?

        func run() throws {
            let db = try catalog.openExisting()
            let rows = try db.checkpoints(filter: try filters.filter(limit: limit))
            print(CatalogListing.checkpoints(rows).render(output.format), terminator: "")
        }
    }

    struct Best: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The best checkpoint by a metric, overall or per optimizer.")
        @OptionGroup var catalog: CatalogOptions
        @OptionGroup var output: OutputOptions
        @OptionGroup var filters: Filters
        @Option(help: "val_acc, val_loss, train_acc or train_loss.") var by = "val_acc"
        @Option(help: ArgumentHelp("Group: 'optimizer' gives the best of each optimizer.", valueName: "optimizer"))
        var per: String?

        func validate() throws {
            _ = try CheckpointMetric.parse(by)
            if let per, per != "optimizer" {
                throw ValidationError("--per: only 'optimizer' is supported, not '\(per)'")
            }
        }

        func run() throws {
            let db = try catalog.openExisting()
            let best = try db.bestCheckpoints(
                by: try CheckpointMetric.parse(by), perOptimizer: per != nil,
                filter: try filters.filter())
            print(CatalogListing.checkpoints(best).render(output.format), terminator: "")
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one checkpoint.")
        @OptionGroup var catalog: CatalogOptions
        @OptionGroup var output: OutputOptions
        @Flag(help: "Also verify the file's SHA-256.") var verify = false
        @Argument(help: "The checkpoint id.") var id: Int64

        func run() throws {
            let db = try catalog.openExisting()
            let c = try db.checkpoint(id: id)
            let run = try db.run(id: c.runId)
            let file = db.url(forStoredPath: c.path)
            if verify { _ = try db.verifiedFile(for: c) }
            let info = CheckpointInfo(checkpoint: c, optimizer: run.optimizer, modelId: run.modelId)
            var sections = [
                TableSection(
                    "checkpoint", CatalogListing.checkpointFields(info, resolvedPath: file.path), isRecord: true)
            ]
            if verify {
                sections.append(
                    TableSection(
                        "verification",
                        TextTable(
                            columns: ["field", "value"],
                            rows: [
                                [.text("sha256"), .text("ok")]
                            ]), isRecord: true))
            }
            printSections(sections, format: output.format)
        }
    }

    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete checkpoints a retention policy does not keep (rows and files together).")
        @OptionGroup var catalog: CatalogOptions
        @OptionGroup var output: OutputOptions
        @Option(name: .customLong("run"), help: "The run to prune.") var runId: Int64
        @Option(
            help: ArgumentHelp(
                "What to keep: best:N[:metric], minima, last[:N], every:K, all; comma-separated.",
                valueName: "spec"),
            transform: { try KeepSpec(parsing: $0) })
        var keep: KeepSpec
        @Flag(help: "Also remove the optimizer state from kept checkpoints other than the newest.")
        var stripOptimizer = false
        @Flag(help: "Show what would happen, change nothing.") var dryRun = false

        func run() throws {
            let db = try catalog.openExisting()
            let spec = keep
            let strip: ((URL, URL) throws -> Void)? =
                stripOptimizer
                ? { try TrainingCheckpoint.stripOptimizerState(from: $0, to: $1) } : nil
            let plan = try db.prune(run: runId, keep: spec, stripOptimizer: strip, dryRun: dryRun)
            print(CatalogListing.prunePlan(plan).render(output.format), terminator: "")
            if output.format == .table {
                let mib = Double(plan.bytesFreed) / 1_048_576
                print(
                    String(
                        format: "%@ %d checkpoint(s), %.1f MiB; kept %d.",
                        dryRun ? "Would delete" : "Deleted", plan.deleted.count, mib, plan.kept.count))
            }
        }
    }
}
