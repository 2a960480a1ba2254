import Foundation
import ArgumentParser
import GraftCatalog
import GraftReport
import GraftSupport

/// `graft catalog info|check|migrate|export|import`: the catalog itself.
struct CatalogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog",
        abstract: "Inspect, check, migrate and move the catalog.",
        subcommands: [Info.self, Check.self, Migrate.self, Export.self, Import.self])

    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Where the catalog is, its schema and its size.")
        @OptionGroup var catalog: CatalogOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let db = try catalog.openExisting()
            let counts = try db.tableCounts()
            var rows: [[TextCell]] = [
                [.text("path"), .text(db.location)],
                [.text("backend"), .text(db.backend.rawValue)],
                [.text("checkpoints"), .text(db.checkpointsDirectory.path)],
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
                    print(
                        CatalogListing.findings(report.findings.map(CommandLineHint.explained)).render(.table),
                        terminator: "")
                }
                let interruptedRuns = report.leftovers.filter { $0.kind == .interruptedRun }.count
                print(
                    "Checked \(report.checkpointsChecked) checkpoint(s), \(report.weightsFilesChecked) weights file(s), "
                        + "\(report.filesScanned) file(s) on disk: \(report.problems.count) problem(s), "
                        + "\(report.leftovers.count - interruptedRuns) leftover(s) of interrupted writes"
                        + (interruptedRuns > 0 ? ", \(interruptedRuns) interrupted run(s)." : "."))
            } else {
                print(
                    CatalogListing.findings(report.findings.map(CommandLineHint.explained)).render(output.format),
                    terminator: "")
            }
            if !report.isHealthy { throw ExitCode(1) }
        }
    }

    struct Migrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the catalog's schema, or upgrade it to this version of Graft.",
            discussion: """
                Opening a catalog does the same; run this once before a cluster's jobs start, so they do not \
                race to create a new PostgreSQL database's tables. A catalog written by a newer Graft is refused \
                and left unchanged.
                """)
        @OptionGroup var catalog: CatalogOptions

        func run() throws {
            let db = try catalog.open()
            try db.migrate()
            print(
                "catalog \(db.location) (\(db.backend.rawValue)): schema \(try db.appliedMigrations().joined(separator: ","))"
            )
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the whole catalog to a JSON file, for `graft catalog import` into another catalog.")
        @OptionGroup var catalog: CatalogOptions
        @Option(name: .shortAndLong, help: "The JSON file to write.") var output: String

        func run() throws {
            let db = try catalog.openExisting()
            let dump = try db.exportDump()
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            try AtomicFile.write(try encoder.encode(dump), to: URL(fileURLWithPath: output))
            print("exported \(dump.rowCount) rows of \(db.location) to \(output)")
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load a `graft catalog export` file into a new, empty catalog (SQLite or PostgreSQL).",
            discussion: """
                Ids are kept. Paths stored relative to the old catalog's folder stay relative, so they resolve \
                under the new catalog's folder or --checkpoint-root: copy the checkpoints/ folder there. Absolute \
                paths are rewritten with --path-prefix OLD=NEW.
                """)
        @OptionGroup var catalog: CatalogOptions
        @Argument(help: "The JSON file from `graft catalog export`.") var file: String
        @Option(help: "Rewrite absolute paths starting with OLD to start with NEW (repeatable).")
        var pathPrefix: [String] = []

        func run() throws {
            let prefixes = try pathPrefix.map { item -> (from: String, to: String) in
                let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, parts[0].hasPrefix("/"), parts[1].hasPrefix("/") else {
                    throw ValidationError("--path-prefix takes /OLD=/NEW, got '\(item)'")
                }
                return (parts[0], parts[1])
            }
            let data: Data
            do {
                data = try Data(contentsOf: URL(fileURLWithPath: file))
            } catch {
                throw ValidationError("cannot read \(file): \(error.localizedDescription)")
            }
            let dump: CatalogDump
            do {
                dump = try JSONDecoder().decode(CatalogDump.self, from: data)
            } catch {
                throw ValidationError("\(file) is not a catalog export: \(error)")
            }
            let db = try catalog.open()
            try db.importDump(dump, pathPrefixes: prefixes)
            print(
                "imported \(dump.rowCount) rows into \(db.location); relative paths resolve under \(db.baseDirectory.path)"
            )
        }
    }
}
