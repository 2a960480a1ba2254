// GraftReport: SVG plots, HTML reports, text tables (with the catalog's listings) and a terminal
// progress bar. No numerics: every target above the catalog (training, ensembles, the CLI,
// benchmarks) can draw a picture, a table or a progress line.

import Foundation
import GraftSupport

/// Errors raised while writing reports.
public enum ReportError: Error, LocalizedError, Equatable {
    /// A report or plot file could not be written.
    case writeFailed(path: String, cause: ErrorCause)

    public var errorDescription: String? {
        switch self {
        case let .writeFailed(path, cause):
            return "Could not write report file '\(path)': \(cause)"
        }
    }
}

/// Writes `text` as UTF-8 to `url`, creating the parent directory when needed.
/// - Throws: `ReportError.writeFailed` naming the path.
func writeText(_ text: String, to url: URL) throws {
    do {
        let dir = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url, options: .atomic)
    } catch {
        throw ReportError.writeFailed(path: url.path, cause: ErrorCause(error))
    }
}
