import Foundation
import GraftSupport

extension SHA256 {
    /// Lowercase hex digest of a file, read in 4 MiB chunks.
    /// - Throws: `WeightsError.fileNotFound` or `.io` naming the file.
    public static func hex(of url: URL) throws -> String {
        guard FileManager.default.fileExists(atPath: url.path) else { throw WeightsError.fileNotFound(path: url.path) }
        guard let handle = try? FileHandle(forReadingFrom: url) else {
            throw WeightsError.io(path: url.path, reason: "cannot open for reading")
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while true {
            let chunk: Data
            do {
                chunk = try handle.read(upToCount: 4 << 20) ?? Data()
            } catch {
                throw WeightsError.io(path: url.path, reason: "read failed: \(error.localizedDescription)")
            }
            if chunk.isEmpty { break }
            hasher.update(chunk)
        }
        return hexString(hasher.finalize())
    }
}
