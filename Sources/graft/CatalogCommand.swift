import Foundation
import ArgumentParser
import GraftCatalog
import GraftReport

/// `graft catalog info|check`: the catalog itself.
struct CatalogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog",
        abstract: "Inspect and check the catalog.",
        subcommands: [Info.self, Check.self])

    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Where the catalog is, its schema and its size.")
        @OptionGroup var catalog: CatalogOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let db = try catalog.openExisting()
            let counts = try db.tableCounts()
            var rows: [[TextCell]] = [
                [.text("path"), .text(db.location)],
                [.text("schema"), .text(try db.appliedMigrations().joined(separator: ","))],
            ]
            rows += counts.map { [.text($0.table), .int($0.rows)] }
            printSections(
                [TableSection("catalog", TextTable(columns: ["field", "value"], rows: rows), isRecord: true)],
                format: output.format)
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare the catalog with the files: missing files, checksum mismatches, orphans, leftovers.",
            discussion: """
                Exits with status 1 when problems are found. Leftovers of interrupted saves are listed but \
                are not problems. --repair fixes what was found (requires --yes): leftovers are removed, \
                rows of missing files deleted, damaged and orphan files moved to lost+found/.
                """)
        @OptionGroup var catalog: CatalogOptions
        @OptionGroup var output: OutputOptions
        @Flag(help: "Skip hashing files (only existence and size).") var noChecksums = false
        @Flag(help: "Fix what was found (needs --yes).") var repair = false
        @Flag(help: "Confirm --repair.") var yes = false

        func validate() throws {
            if repair && !yes { throw ValidationError("--repair changes the catalog and files; confirm with --yes") }
        }

        func run() throws {
            let db = try catalog.openExisting()
            var report = try db.check(verifyChecksums: !noChecksums)
            var actions: [String] = []
            if repair && !report.findings.isEmpty {
                let summary = try db.repair(report)
                actions = summary.actions + summary.skipped
                report = try db.check(verifyChecksums: !noChecksums)
            }
            if output.format == .table {
                for a in actions { print("repair: \(a)") }
                if !report.findings.isEmpty {
                    print(CatalogListing.findings(report.findings).render(.table), terminator: "")
                }
                let interruptedRuns = report.leftovers.filter { $0.kind == .interruptedRun }.count
                print(
                    "Checked \(report.checkpointsChecked) checkpoint(s), \(report.weightsFilesChecked) weights file(s), "
                        + "\(report.filesScanned) file(s) on disk: \(report.problems.count) problem(s), "
                        + "\(report.leftovers.count - interruptedRuns) leftover(s) of interrupted writes"
                        + (interruptedRuns > 0 ? ", \(interruptedRuns) interrupted run(s)." : "."))
            } else {
                print(CatalogListing.findings(report.findings).render(output.format), terminator: "")
            }
            if !report.isHealthy { throw ExitCode(1) }
        }
    }
}
