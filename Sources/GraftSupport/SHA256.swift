import Crypto
import Foundation

/// SHA-256 digests as lowercase hex, computed by swift-crypto (`Crypto.SHA256`). Identify weight
/// files (torchvision names its files with the first 8 hex digits of their SHA-256), checkpoints
/// and weights in the catalog, and dataset file lists.
public enum SHA256 {
    /// Lowercase hex digest of some bytes.
    public static func hex(of data: Data) -> String {
        hex(Crypto.SHA256.hash(data: data))
    }

    /// Lowercase hex digest of a string's UTF-8 bytes.
    public static func hex(_ string: String) -> String {
        hex(of: Data(string.utf8))
    }

    /// Lowercase hex digest of the file at `url`.
    /// - Throws: `FileError` naming the file when it cannot be opened or read.
    public static func hex(of url: URL) throws -> String {
        try hexAndSize(of: url).hex
    }

    /// Lowercase hex digest and byte count of the file at `url`, in one pass of 1 MiB reads, so
    /// a large checkpoint is never held in memory whole.
    /// - Throws: `FileError` naming the file when it cannot be opened or read.
    public static func hexAndSize(of url: URL) throws -> (hex: String, bytes: Int64) {
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else { throw FileError(path: url.path, operation: "open", code: errno) }
        defer { close(fd) }
        var hasher = Crypto.SHA256()
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 64)
        defer { buffer.deallocate() }
        var total: Int64 = 0
        while true {
            let n = read(fd, buffer.baseAddress, chunk)
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError(path: url.path, operation: "read", code: errno)
            }
            if n == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            total += Int64(n)
        }
        return (hex(hasher.finalize()), total)
    }

    private static func hex(_ digest: Crypto.SHA256.Digest) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(Crypto.SHA256.Digest.byteCount * 2)
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
