// GraftReport: self-contained SVG plots, HTML reports and a terminal progress bar.
//
// Pure Swift + Foundation, no C dependencies, so every other target (training, CLI, benchmarks)
// can draw a picture or a progress line without pulling in numerics.

import Foundation

/// Errors raised while writing reports.
public enum ReportError: Error, LocalizedError, Equatable {
    /// A report or plot file could not be written.
    case writeFailed(path: String, reason: String)

    public var errorDescription: String? {
        switch self {
        case let .writeFailed(path, reason):
            return "Could not write report file '\(path)': \(reason)"
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
        throw ReportError.writeFailed(path: url.path, reason: error.localizedDescription)
    }
}
