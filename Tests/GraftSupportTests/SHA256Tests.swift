import Foundation
import GraftSupport
import Testing
import TestSupport

@Suite("SHA-256 hex digests")
struct SHA256Tests {
    // FIPS 180-4 / NIST example vectors, through each entry point.
    static let vectors: [(input: Data, hex: String)] = [
        (Data(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        (Data("abc".utf8), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        ),
        (
            Data(repeating: UInt8(ascii: "a"), count: 1_000_000),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        ),
    ]

    @Test("bytes, strings and files give the known digests")
    func knownVectors() throws {
        let dir = try TemporaryDirectory.make("graft-support")
        defer { TemporaryDirectory.remove(dir) }
        for (i, v) in Self.vectors.enumerated() {
            #expect(SHA256.hex(of: v.input) == v.hex)
            #expect(SHA256.hex(String(decoding: v.input, as: UTF8.self)) == v.hex)
            let file = dir.appendingPathComponent("vector-\(i)")
            try v.input.write(to: file)
            #expect(try SHA256.hex(of: file) == v.hex)
            let (hex, bytes) = try SHA256.hexAndSize(of: file)
            #expect(hex == v.hex && bytes == Int64(v.input.count))
        }
    }

    @Test(
        "a file read in several chunks matches sha256sum",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/sha256sum")))
    func fileAcrossChunksMatchesSha256sum() throws {
        let dir = try TemporaryDirectory.make("graft-support")
        defer { TemporaryDirectory.remove(dir) }
        var rng = SystemRandomNumberGenerator()
        let data = Data((0..<(3 * 1_048_576 + 17)).map { _ in UInt8.random(in: 0...255, using: &rng) })
        let file = dir.appendingPathComponent("blob.bin")
        try data.write(to: file)
        let (hex, size) = try SHA256.hexAndSize(of: file)
        #expect(size == Int64(data.count))
        #expect(hex == SHA256.hex(of: data))
        let out = try ChildProcess.run(URL(fileURLWithPath: "/usr/bin/sha256sum"), [file.path]).stdout
        #expect(out.split(separator: " ").first.map(String.init) == hex)
    }

    @Test("a missing file is a FileError naming it")
    func missing() {
        let url = URL(fileURLWithPath: "/nonexistent/graft.h5")
        #expect(throws: FileError(path: url.path, operation: "open", code: ENOENT)) { try SHA256.hex(of: url) }
        #expect((try? SHA256.hex(of: url)) == nil)
        #expect(FileError(path: url.path, operation: "open", code: ENOENT).errorDescription?.contains(url.path) == true)
    }

    @Test("a file that opens but cannot be read is a FileError for the read")
    func unreadable() throws {
        // A directory opens read-only on Linux; reading it fails with EISDIR.
        let dir = try TemporaryDirectory.make("graft-support")
        defer { TemporaryDirectory.remove(dir) }
        #expect(throws: FileError(path: dir.path, operation: "read", code: EISDIR)) { try SHA256.hexAndSize(of: dir) }
    }
}
