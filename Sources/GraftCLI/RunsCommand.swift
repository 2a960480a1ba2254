import Foundation
import ArgumentParser
import GraftCatalog
import GraftReport

/// `graft runs list|show`: the training runs recorded in the catalog.
struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List and inspect training runs in the catalog.",
        subcommands: [List.self, Show.self],
        defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List runs, oldest first.")

        @OptionGroup var catalog: CatalogOptions
        @OptionGroup var output: OutputOptions
        @Option(help: "Only runs with this optimizer.") var optimizer: String?
        @Option(help: "Only runs of this model.") var model: String?
        @Option(help: "Only runs with this status (queued, running, finished, failed, interrupted).")
        var status: String?
        @Option(help: "Only runs on this split id.") var split: Int64?
        @Option(help: "Only runs of this comparison id.") var comparison: Int64?

        func validate() throws {
            if let status, RunStatus(rawValue: status) == nil {
                throw ValidationError(
                    "unknown status '\(status)' (expected \(RunStatus.allCases.map(\.rawValue).joined(separator: ", ")))"
                )
            }
        }

        func run() throws {
            let db = try catalog.openExisting()
            let wanted = status.flatMap(RunStatus.init)
            // A killed run is still `running` in the table: filter on the status users see.
            let stored = wanted == .running || wanted == .interrupted ? nil : wanted
            let runs = try db.runs(
                filter: RunFilter(
                    optimizer: optimizer, modelId: model, splitId: split,
                    comparisonId: comparison, status: stored)
            )
            .map(RunsCommand.asSeen).filter { wanted == nil || $0.status == wanted }
            print(CatalogListing.runs(runs).render(output.format), terminator: "")
            RunsCommand.offerResume(runs)
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one run: settings, epoch metrics, checkpoints.")

        @OptionGroup var catalog: CatalogOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The run id.") var id: Int64

        func run() throws {
            let db = try catalog.openExisting()
            let run = RunsCommand.asSeen(try db.run(id: id))
            RunsCommand.offerResume([run])
            printSections(
                [
                    TableSection("run", CatalogListing.runFields(run), isRecord: true),
                    TableSection("epochs", CatalogListing.epochs(try db.epochMetrics(run: id))),
                    TableSection(
                        "checkpoints", CatalogListing.checkpoints(try db.checkpoints(filter: CheckpointFilter(run: id)))
                    ),
                ], format: output.format)
        }
    }
}

extension RunsCommand {
    /// A run with the status a user should see: `interrupted` when it is marked running but its
    /// process is gone.
    static func asSeen(_ run: RunRecord) -> RunRecord {
        var run = run
        if run.isAbandoned() { run.status = .interrupted }
        return run
    }

    /// Tells how to continue each interrupted run that has no successor yet.
    static func offerResume(_ runs: [RunRecord]) {
        for run in runs where run.status == .interrupted {
            FileHandle.standardError.write(
                Data("run \(run.id!) was interrupted: continue it with `graft train --resume \(run.id!)`\n".utf8))
        }
    }
}
