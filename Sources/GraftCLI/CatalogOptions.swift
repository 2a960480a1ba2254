import Foundation
import ArgumentParser
import GraftCatalog
import GraftReport

/// `--catalog PATH`, shared by every command that reads or writes the catalog.
/// Precedence: `--catalog`, then `$GRAFT_CATALOG`, then `Catalog/catalog.sqlite`.
struct CatalogOptions: ParsableArguments {
    @Option(
        name: .customLong("catalog"),
        help: ArgumentHelp(
            "The catalog: a SQLite file or a postgresql:// URL (default: $GRAFT_CATALOG, else \(Catalog.defaultPath)).",
            valueName: "path|url"))
    var catalogPath: String?

    @Option(
        help: ArgumentHelp(
            "Where a PostgreSQL catalog's checkpoints go, on a file system every node shares (default: "
                + "$\(Catalog.checkpointRootVariable), else ./Catalog). A file catalog keeps them beside the file.",
            valueName: "dir"))
    var checkpointRoot: String?

    var resolvedPath: String { Catalog.resolvedPath(explicit: catalogPath) }

    /// Opens the catalog, creating it when missing (for commands that write).
    func open() throws -> Catalog { try Catalog.open(location: resolvedPath, checkpointRoot: checkpointRoot) }

    /// Opens an existing catalog (for commands that only read), so a typo does not create a file.
    func openExisting() throws -> Catalog {
        let path = resolvedPath
        guard Catalog.isServerURL(path) || FileManager.default.fileExists(atPath: path) else {
            throw ValidationError("no catalog at \(path) (set --catalog or \(Catalog.environmentVariable))")
        }
        return try Catalog.open(location: path, checkpointRoot: checkpointRoot)
    }
}

/// `--json` / `--csv`; aligned tables otherwise.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Print CSV.") var csv = false

    var format: OutputFormat { json ? .json : (csv ? .csv : .table) }

    func validate() throws {
        if json && csv { throw ValidationError("choose one of --json and --csv") }
    }
}

/// Prints titled tables (see `TableSection.render`).
func printSections(_ sections: [TableSection], format: OutputFormat) {
    print(TableSection.render(sections, format: format), terminator: "")
}
