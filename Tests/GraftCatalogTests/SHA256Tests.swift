import Foundation
import GraftSupport
import Testing
@testable import GraftCatalog

@Suite("SHA-256")
struct SHA256Tests {
    // FIPS 180-4 / NIST example vectors.
    @Test("known vectors")
    func vectors() {
        #expect(FileDigest.sha256(Data()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(FileDigest.sha256(Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(FileDigest.sha256(Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(FileDigest.sha256(Data(repeating: UInt8(ascii: "a"), count: 1_000_000))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("streaming in odd chunks equals one shot, and a file matches sha256sum")
    func streaming() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<(3 * 1_048_576 + 17)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let data = Data(bytes)
        var hasher = SHA256()
        var offset = 0
        var step = 1
        while offset < data.count {
            let end = min(data.count, offset + step)
            hasher.update(data.subdata(in: offset..<end))
            offset = end
            step = step * 3 % 1000 + 1
        }
        let streamed = SHA256.hexString(hasher.finalize())
        #expect(streamed == FileDigest.sha256(data))

        let file = dir.path("blob.bin")
        try data.write(to: file)
        let (fileHash, size) = try FileDigest.sha256AndSize(file)
        #expect(size == Int64(data.count))
        #expect(fileHash == streamed)
        // An independent implementation, when coreutils is there.
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/sha256sum") {
            let out = try shell("/usr/bin/sha256sum", [file.path])
            #expect(out.split(separator: " ").first.map(String.init) == fileHash)
        }
    }

    @Test("a missing file is an error naming it")
    func missing() {
        #expect { try FileDigest.sha256(URL(fileURLWithPath: "/nonexistent/graft.h5")) } throws: { error in
            (error as? CatalogError)?.errorDescription?.contains("/nonexistent/graft.h5") == true
        }
    }
}

@Suite("AtomicFile")
struct AtomicFileTests {
    @Test("writes through a temporary sibling and leaves nothing else")
    func write() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let target = dir.path("sub/file.h5")
        var tempSeen: URL?
        try AtomicFile.write(to: target) { temp in
            tempSeen = temp
            #expect(AtomicFile.isTemporary(temp.lastPathComponent))
            #expect(AtomicFile.finalName(forTemporary: temp.lastPathComponent) == "file.h5")
            #expect(AtomicFile.writerPID(ofTemporary: temp.lastPathComponent) == getpid())
            try Data("hello".utf8).write(to: temp)
        }
        #expect(try String(contentsOf: target, encoding: .utf8) == "hello")
        #expect(tempSeen.map { FileManager.default.fileExists(atPath: $0.path) } == false)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path("sub").path) == ["file.h5"])
    }

    @Test("a failing writer leaves the old file and no temporary")
    func failure() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let target = dir.path("file.txt")
        try AtomicFile.write(Data("old".utf8), to: target)
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try AtomicFile.write(to: target) { temp in
                try Data("partial".utf8).write(to: temp)
                throw Boom()
            }
        }
        #expect(try String(contentsOf: target, encoding: .utf8) == "old")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.url.path) == ["file.txt"])
    }
}
