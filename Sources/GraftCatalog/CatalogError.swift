import Foundation
import GraftSupport

/// Everything that can go wrong in the catalog, each case naming the file, id or value at fault.
public enum CatalogError: Error, LocalizedError, Equatable, Sendable {
    /// The catalog was written by a newer Graft: it knows migrations this build does not.
    case newerSchema(path: String, unknownMigrations: [String])
    /// The catalog file could not be opened (not a SQLite file, no permission, …).
    case cannotOpen(path: String, reason: String)
    /// A file operation failed.
    case io(path: String, operation: String, errno: Int32)
    /// No row with this id in this table.
    case notFound(table: String, id: Int64)
    /// A file's SHA-256 differs from the one registered in the catalog.
    case checksumMismatch(path: String, expected: String, actual: String)
    /// A registered file is not on disk.
    case missingFile(path: String)
    /// A retention spec such as `best:3,minima,last` could not be parsed.
    case invalidKeepSpec(spec: String, reason: String)
    /// A value (metric name, status, path) is not acceptable.
    case invalidValue(name: String, value: String, reason: String)
    /// A comparison with this name exists with a different configuration.
    case comparisonConfigMismatch(name: String)
    /// The database refused a statement (a constraint, a lost server connection, …).
    case database(reason: String)

    public var errorDescription: String? {
        switch self {
        case .newerSchema(let path, let unknown):
            return "catalog \(path) was written by a newer Graft (unknown schema migrations: "
                + "\(unknown.joined(separator: ", "))); it was not modified. Upgrade Graft to open it."
        case .cannotOpen(let path, let reason):
            return "cannot open catalog \(path): \(reason)"
        case .io(let path, let operation, let code):
            return "\(operation) failed for \(path): \(String(cString: strerror(code)))"
        case .notFound(let table, let id):
            return "no \(table) with id \(id) in the catalog"
        case .checksumMismatch(let path, let expected, let actual):
            return "checksum mismatch for \(path): catalog has sha256 \(expected), file has \(actual)"
        case .missingFile(let path):
            return "registered file \(path) does not exist"
        case .invalidKeepSpec(let spec, let reason):
            return "invalid keep spec '\(spec)': \(reason)"
        case .invalidValue(let name, let value, let reason):
            return "invalid \(name) '\(value)': \(reason)"
        case .comparisonConfigMismatch(let name):
            return "comparison '\(name)' already exists with a different configuration; "
                + "choose another name to start a new one"
        case .database(let reason):
            return "catalog database error: \(reason)"
        }
    }
}

extension CatalogError {
    /// Runs `body`, rethrowing GraftSupport's `FileError` as `.io` with the same path, operation
    /// and errno, so catalog calls fail with `CatalogError` whichever layer touched the file.
    static func translatingFileErrors<T>(_ body: () throws -> T) rethrows -> T {
        do {
            return try body()
        } catch let error as FileError {
            throw CatalogError.io(path: error.path, operation: error.operation, errno: error.code)
        }
    }
}
