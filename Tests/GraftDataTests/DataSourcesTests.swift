import Foundation
import GraftData
import Testing
import TestSupport

@Suite("Data sources of a run", .enabled(if: Fixtures.prerequisite.runs, Fixtures.prerequisite.comment))
struct DataSourcesTests {
    /// Two classes of six photos each, and a truncated JPEG whose header reads fine.
    static func folderWithATruncatedPhoto() throws -> URL {
        let root = try TemporaryDirectory.make("graft-sources")
        for (cls, photo) in [("a", "flower_444"), ("b", "flower_baseline420")] {
            try FileManager.default.createDirectory(
                at: root.appendingPathComponent(cls), withIntermediateDirectories: true)
            for i in 0..<6 {
                try FileManager.default.copyItem(
                    at: Fixtures.url("images/\(photo).jpg"), to: root.appendingPathComponent("\(cls)/\(i).jpg"))
            }
        }
        try FileManager.default.copyItem(
            at: Fixtures.url("images/bad/truncated.jpg"), to: root.appendingPathComponent("a/truncated.jpg"))
        return root
    }

    @Test("a run uses the folder's split from `graft data split`, which left out the truncated photo")
    func runUsesTheVerifiedSplit() throws {
        let root = try Self.folderWithATruncatedPhoto()
        defer { TemporaryDirectory.remove(root) }
        let catalogSplits = root.appendingPathComponent("catalog-splits")
        let split = try DataSplit.make(
            ImageFolder(root: root, verify: true), root: root, valFraction: 0.25, seed: 3)
        try split.write(to: DataSplit.defaultURL(for: root))
        #expect(split.train.count + split.val.count == 12)

        var spec = DataSpecification(source: root.path, imageSize: 32)
        spec.validationFraction = 0.25
        spec.splitSeed = 3
        spec.mean = [0.5, 0.5, 0.5]
        spec.std = [0.5, 0.5, 0.5]
        let sources = try DataSources.make(spec, batchSize: 4, seed: 0, splitDirectory: catalogSplits)
        #expect(sources.train.sampleCount + sources.validation.sampleCount == 12)
        #expect(sources.splitHash == split.fileListHash)
        for source in [sources.train, sources.validation] {
            _ = try source.batches(epoch: 0, startingAt: 0).all()
        }
        #expect(sources.failures.entries.isEmpty, "no unreadable photo met: \(sources.failures.entries)")
        // The run keeps its own copy, as it does for a split it makes itself.
        let copies = try FileManager.default.contentsOfDirectory(atPath: catalogSplits.path)
        #expect(copies.count == 1)
        #expect(try DataSplit.read(from: catalogSplits.appendingPathComponent(copies[0])) == split)

        // Another seed is another split: made by the run, from the files whose headers read, so
        // the truncated photo is in it and is reported when met.
        spec.splitSeed = 4
        let other = try DataSources.make(spec, batchSize: 4, seed: 0, splitDirectory: catalogSplits)
        #expect(other.train.sampleCount + other.validation.sampleCount == 13)
    }
}
