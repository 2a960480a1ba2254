import Foundation
import GraftSupport
import Testing
import TestSupport
@testable import GraftWeights

@Suite("SHA-256")
struct SHA256Tests {
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
}
