import Foundation
import GraftSupport
import Testing
import TestSupport
@testable import GraftWeights

@Suite("SHA-256")
struct SHA256Tests {
    @Test func knownVectors() {
        // FIPS 180-4 examples and the empty string.
        #expect(SHA256.hex(of: Data()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(of: Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(of: Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hex(of: Data(repeating: UInt8(ascii: "a"), count: 1_000_000))
            == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func streamingInOddChunksEqualsOneShot() {
        let data = Data((0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        var hasher = SHA256()
        var offset = 0
        for size in [1, 63, 64, 65, 127, 3000, 6680] {
            hasher.update(data.subdata(in: offset..<(offset + size)))
            offset += size
        }
        #expect(offset == data.count)
        #expect(SHA256.hexString(hasher.finalize()) == SHA256.hex(of: data))
    }

    @Test(.enabled(if: TestFiles.fixturesAndSha256sum.runs, TestFiles.fixturesAndSha256sum.comment))
    func fixtureFileMatchesSha256sum() throws {
        try TestFiles.fixturesAndSha256sum.require()
        let url = Fixtures.url("resnet34/resnet34-random-seed0.pth")
        let started = Date(), cpuStarted = clock()
        let ours = try SHA256.hex(of: url)
        let elapsed = Date().timeIntervalSince(started)
        let cpu = Double(clock() - cpuStarted) / Double(CLOCKS_PER_SEC)
        let reference = try TestFiles.run(["sha256sum", url.path]).out.split(separator: " ").first.map(String.init)
        #expect(ours == reference)
        // Speed is reported, not asserted (release builds hash the 87 MB file well under a second).
        print("SHA-256 of 87 MB: \(String(format: "%.3f", elapsed)) s wall, \(String(format: "%.3f", cpu)) s CPU")
    }

    @Test func missingFileNamesIt() {
        let url = URL(fileURLWithPath: "/nonexistent/graft/weights.pth")
        #expect(throws: WeightsError.fileNotFound(path: url.path)) { try SHA256.hex(of: url) }
    }
}
