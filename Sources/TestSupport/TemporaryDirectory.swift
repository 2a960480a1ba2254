import Foundation

/// Fresh empty directories for tests, one per call, under the system's temporary folder.
public enum TemporaryDirectory {
    /// A new directory whose name starts with `prefix`; remove it with `remove`.
    public static func make(_ prefix: String = "graft-test") throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(prefix)-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    public static func remove(_ url: URL) { try? FileManager.default.removeItem(at: url) }
}
