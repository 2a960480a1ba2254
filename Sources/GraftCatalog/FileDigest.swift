import Foundation

/// Streaming SHA-256 (FIPS 180-4), so checkpoint files of any size are hashed in fixed memory.
///
/// GraftCatalog depends on GRDB only, so it carries its own small implementation instead of
/// importing a crypto library.
public struct SHA256Hasher: Sendable {
    private var state: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) = (
        0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a,
        0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19
    )
    private var buffer = [UInt8](repeating: 0, count: 64)
    private var buffered = 0
    private var totalBytes: UInt64 = 0

    public init() {}

    /// Feeds `count` bytes starting at `bytes`.
    public mutating func update(_ bytes: UnsafeRawPointer, count: Int) {
        totalBytes &+= UInt64(count)
        var src = bytes.assumingMemoryBound(to: UInt8.self)
        var remaining = count
        if buffered > 0 {
            let take = min(64 - buffered, remaining)
            buffer.withUnsafeMutableBufferPointer { b in
                (b.baseAddress! + buffered).update(from: src, count: take)
            }
            buffered += take
            src += take
            remaining -= take
            if buffered == 64 {
                let copy = buffer
                copy.withUnsafeBufferPointer { compress($0.baseAddress!) }
                buffered = 0
            }
        }
        while remaining >= 64 {
            compress(src)
            src += 64
            remaining -= 64
        }
        if remaining > 0 {
            buffer.withUnsafeMutableBufferPointer { b in
                b.baseAddress!.update(from: src, count: remaining)
            }
            buffered = remaining
        }
    }

    /// Feeds the bytes of `data`.
    public mutating func update(_ data: Data) {
        data.withUnsafeBytes { raw in
            if let base = raw.baseAddress { update(base, count: raw.count) }
        }
    }

    /// Pads, finishes and returns the digest as 64 lowercase hex characters.
    public mutating func finalizeHex() -> String {
        let bitLength = totalBytes &* 8
        var tail: [UInt8] = [0x80]
        let padZeros = (55 &- buffered + 64) % 64
        tail.append(contentsOf: [UInt8](repeating: 0, count: padZeros))
        for shift in stride(from: 56, through: 0, by: -8) {
            tail.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift)))
        }
        let saved = totalBytes
        tail.withUnsafeBytes { update($0.baseAddress!, count: $0.count) }
        totalBytes = saved
        let words = [state.0, state.1, state.2, state.3, state.4, state.5, state.6, state.7]
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for w in words {
            for shift in stride(from: 28, through: 0, by: -4) {
                out.append(digits[Int((w >> UInt32(shift)) & 0xF)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let k: [UInt32] = [
        0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
        0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
        0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
        0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
        0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
        0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
        0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
        0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2,
    ]

    @inline(__always)
    private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }

    /// Processes one 64-byte block.
    private mutating func compress(_ block: UnsafePointer<UInt8>) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { wBuf in
            let w = wBuf.baseAddress!
            for i in 0..<16 {
                let p = block + 4 * i
                w[i] = UInt32(p[0]) << 24 | UInt32(p[1]) << 16 | UInt32(p[2]) << 8 | UInt32(p[3])
            }
            for i in 16..<64 {
                let s0 = Self.rotr(w[i - 15], 7) ^ Self.rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
                let s1 = Self.rotr(w[i - 2], 17) ^ Self.rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
                w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
            }
            var (a, b, c, d, e, f, g, h) = state
            Self.k.withUnsafeBufferPointer { kBuf in
                let k = kBuf.baseAddress!
                for i in 0..<64 {
                    let s1 = Self.rotr(e, 6) ^ Self.rotr(e, 11) ^ Self.rotr(e, 25)
                    let ch = (e & f) ^ (~e & g)
                    let t1 = h &+ s1 &+ ch &+ k[i] &+ w[i]
                    let s0 = Self.rotr(a, 2) ^ Self.rotr(a, 13) ^ Self.rotr(a, 22)
                    let maj = (a & b) ^ (a & c) ^ (b & c)
                    let t2 = s0 &+ maj
                    h = g; g = f; f = e; e = d &+ t1
                    d = c; c = b; b = a; a = t1 &+ t2
                }
            }
            state = (state.0 &+ a, state.1 &+ b, state.2 &+ c, state.3 &+ d,
                     state.4 &+ e, state.5 &+ f, state.6 &+ g, state.7 &+ h)
        }
    }
}

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
        var hasher = SHA256Hasher()
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
            hasher.update(UnsafeRawPointer(buf), count: n)
            total += Int64(n)
        }
        return (hasher.finalizeHex(), total)
    }

    /// SHA-256 of in-memory bytes as lowercase hex.
    public static func sha256(_ data: Data) -> String {
        var hasher = SHA256Hasher()
        hasher.update(data)
        return hasher.finalizeHex()
    }
}
