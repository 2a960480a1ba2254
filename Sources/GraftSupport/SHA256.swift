import CLibCrypto
import Foundation

/// SHA-256 digests as lowercase hex, computed by OpenSSL's libcrypto (the EVP digest API, which
/// uses the CPU's SHA extensions where it has them). Identify weight files (torchvision names its
/// files with the first 8 hex digits of their SHA-256), checkpoints and weights in the catalog, and
/// dataset file lists.
public enum SHA256 {
    /// OpenSSL could not compute a digest: the EVP call that failed and OpenSSL's text for it.
    /// Never caused by the bytes hashed; by an allocation failure, or a libcrypto that cannot load
    /// its default provider (a broken `OPENSSL_CONF`, say).
    public struct LibraryError: LocalizedError, Equatable, Sendable {
        /// The libcrypto function that failed, such as "EVP_DigestInit_ex".
        public var call: String
        /// OpenSSL's error string for the failure.
        public var reason: String

        public init(call: String, reason: String) {
            self.call = call
            self.reason = reason
        }

        public var errorDescription: String? { "SHA-256: OpenSSL's \(call) failed: \(reason)" }

        /// The error for `call`, with the oldest entry of this thread's OpenSSL error queue as its
        /// reason; empties the queue so that a later failure does not report this one's cause.
        static func fromQueue(_ call: String) -> LibraryError {
            let code = ERR_get_error()
            ERR_clear_error()
            guard code != 0 else { return LibraryError(call: call, reason: "no error reported") }
            var text = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &text, text.count)
            let end = text.firstIndex(of: 0) ?? text.count
            return LibraryError(
                call: call, reason: String(decoding: text[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
    }

    /// Lowercase hex digest of some bytes.
    /// - Precondition: libcrypto works (see `LibraryError`); a failure there stops the program
    ///   with OpenSSL's message, as there is no digest to return.
    public static func hex(of data: Data) -> String {
        do {
            return try digest { context in try data.withUnsafeBytes { try update(context, $0) } }
        } catch {
            // Not `preconditionFailure`, whose message release builds drop.
            fatalError(error.localizedDescription)
        }
    }

    /// Lowercase hex digest of a string's UTF-8 bytes.
    /// - Precondition: as for `hex(of:)` with `Data`.
    public static func hex(_ string: String) -> String {
        hex(of: Data(string.utf8))
    }

    /// Lowercase hex digest of the file at `url`.
    /// - Throws: `FileError` naming the file when it cannot be opened or read; `LibraryError` when
    ///   OpenSSL fails.
    public static func hex(of url: URL) throws -> String {
        try hexAndSize(of: url).hex
    }

    /// Lowercase hex digest and byte count of the file at `url`, in one pass of 1 MiB reads, so
    /// a large checkpoint is never held in memory whole.
    /// - Throws: `FileError` naming the file when it cannot be opened or read; `LibraryError` when
    ///   OpenSSL fails.
    public static func hexAndSize(of url: URL) throws -> (hex: String, bytes: Int64) {
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else { throw FileError(path: url.path, operation: "open", code: errno) }
        defer { close(fd) }
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 64)
        defer { buffer.deallocate() }
        var total: Int64 = 0
        let hex = try digest { context in
            while true {
                let n = read(fd, buffer.baseAddress, chunk)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileError(path: url.path, operation: "read", code: errno)
                }
                if n == 0 { break }
                try update(context, UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                total += Int64(n)
            }
        }
        return (hex, total)
    }

    /// Runs `feed` on a fresh SHA-256 context and returns the digest as lowercase hex; the
    /// context is freed on every path.
    private static func digest(_ feed: (OpaquePointer) throws -> Void) throws -> String {
        guard let context = EVP_MD_CTX_new() else { throw LibraryError.fromQueue("EVP_MD_CTX_new") }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1 else {
            throw LibraryError.fromQueue("EVP_DigestInit_ex")
        }
        try feed(context)
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard EVP_DigestFinal_ex(context, &digest, &length) == 1 else {
            throw LibraryError.fromQueue("EVP_DigestFinal_ex")
        }
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(Int(length) * 2)
        for byte in digest[0..<Int(length)] {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func update(_ context: OpaquePointer, _ bytes: UnsafeRawBufferPointer) throws {
        // Empty `Data` may have no base address; there is nothing to add either way.
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        guard EVP_DigestUpdate(context, base, bytes.count) == 1 else {
            throw LibraryError.fromQueue("EVP_DigestUpdate")
        }
    }
}
