import Foundation
import ArgumentParser
import GraftCatalog
import GraftReport

/// `graft evaluations`: the evaluations `graft evaluate` recorded in the catalog.
struct EvaluationsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluations",
        abstract: "List the evaluations recorded by graft evaluate, oldest first.",
        discussion: """
            The figures column says what the numbers are: test figures (a test folder, Fashion-MNIST's test set), \
            which nothing in Graft chooses with, or validation figures (the split that chose the checkpoint). \
            graft report --evaluation ID draws one.
            """)

    @OptionGroup var catalog: CatalogOptions
    @OptionGroup var output: OutputOptions
    @Option(name: .customLong("run"), help: "Only evaluations of this run's checkpoints.") var runId: Int64?
    @Option(help: "Only evaluations of this checkpoint.") var checkpoint: Int64?

    func run() throws {
        let db = try catalog.openExisting()
        let rows = try db.evaluations(run: runId, checkpoint: checkpoint)
        print(CatalogListing.evaluations(rows).render(output.format), terminator: "")
    }
}
