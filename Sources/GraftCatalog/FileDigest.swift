import Foundation
import GraftSupport

/// File hashing for the catalog: every registered file is recorded with its SHA-256 and size.
public enum FileDigest {
    /// SHA-256 of the file at `url` as lowercase hex, read in 1 MiB chunks.
    /// - Throws: `CatalogError.io` naming the file when it cannot be opened or read.
    public static func sha256(_ url: URL) throws -> String {
        try sha256AndSize(url).sha256
    }

    /// SHA-256 (lowercase hex) and byte count of the file at `url`, in one pass.
    /// - Throws: `CatalogError.io` naming the file when it cannot be opened or read.
    public static func sha256AndSize(_ url: URL) throws -> (sha256: String, bytes: Int64) {
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else { throw CatalogError.io(path: url.path, operation: "open", errno: errno) }
        defer { close(fd) }
        var hasher = SHA256()
        let chunk = 1 << 20
        let buf = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 64)
        defer { buf.deallocate() }
        var total: Int64 = 0
        while true {
            let n = read(fd, buf, chunk)
            if n < 0 {
                if errno == EINTR { continue }
                throw CatalogError.io(path: url.path, operation: "read", errno: errno)
            }
            if n == 0 { break }
            hasher.update(UnsafeRawBufferPointer(start: buf, count: n))
            total += Int64(n)
        }
        return (SHA256.hexString(hasher.finalize()), total)
    }

    /// SHA-256 of in-memory bytes as lowercase hex.
    public static func sha256(_ data: Data) -> String {
        SHA256.hex(of: data)
    }
}
