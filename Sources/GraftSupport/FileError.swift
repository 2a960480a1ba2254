import Foundation

/// A file operation that failed: what was tried, on which path, and the `errno` it set. The
/// error GraftSupport throws; modules that catch it wrap it in their own error type with the same
/// facts (`CatalogError.io`, `WeightsError.io`).
public struct FileError: LocalizedError, Equatable, Sendable {
    public var path: String
    /// What failed: "open", "read", "fsync", "rename", …
    public var operation: String
    /// The `errno` the failing call set.
    public var code: Int32

    public init(path: String, operation: String, code: Int32) {
        self.path = path
        self.operation = operation
        self.code = code
    }

    public var errorDescription: String? { "\(operation) failed for \(path): \(reason)" }

    /// The system's text for `code` ("No such file or directory").
    public var reason: String { String(cString: strerror(code)) }
}
