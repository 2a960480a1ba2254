import Foundation
import GraftData
import GraftTensor
import Testing
import TestSupport

/// An ImageFolder holding JPEGs and PNGs side by side, as the scan, the split and the loader see it.
@Suite("JPEG and PNG in one folder")
struct MixedFormatFolderTests {
    /// cats: two JPEGs and two PNGs (one named `.PNG`); dogs: a JPEG, two PNGs, a PNG cut in half
    /// (its header reads) and a `.png` holding text. JPEGs are encoded from the PNG fixtures.
    static func folder() throws -> URL {
        let root = try TemporaryDirectory.make("graft-mixed")
        let fm = FileManager.default
        for cls in ["cats", "dogs"] {
            try fm.createDirectory(at: root.appendingPathComponent(cls), withIntermediateDirectories: true)
        }
        func png(_ fixture: String, _ to: String) throws {
            try fm.copyItem(at: PNGFixtures.url(fixture), to: root.appendingPathComponent(to))
        }
        func jpeg(_ fixture: String, _ to: String, grayscale: Bool = false) throws {
            let image = try PNGFixtures.expected(fixture)
            try JPEG.encode(image, quality: 92, grayscale: grayscale).write(to: root.appendingPathComponent(to))
        }
        try jpeg("pillow_rgb", "cats/c0.jpg")
        try png("rgb8_adam7", "cats/c1.png")
        try png("palette8", "cats/c2.PNG")
        try jpeg("gray8", "cats/c3.jpeg", grayscale: true)
        try png("gray16", "dogs/d0.png")
        try jpeg("rgba8", "dogs/d1.jpg")
        try png("pillow_rgba_optimized", "dogs/d2.png")
        let whole = try PNGFixtures.data("pillow_rgb")
        try whole.prefix(whole.count / 2).write(to: root.appendingPathComponent("dogs/cut.png"))
        try Data("not a picture\n".utf8).write(to: root.appendingPathComponent("dogs/notes.png"))
        return root
    }

    static let readable = [
        "cats/c0.jpg", "cats/c1.png", "cats/c2.PNG", "cats/c3.jpeg", "dogs/d0.png", "dogs/d1.jpg", "dogs/d2.png",
    ]

    @Test("the scan lists both formats, probes their sizes and names what it cannot read")
    func scan() throws {
        let root = try Self.folder()
        defer { TemporaryDirectory.remove(root) }
        let folder = try ImageFolder(root: root)
        #expect(folder.classNames == ["cats", "dogs"])
        // The cut PNG's header is whole: only a full decode finds it.
        #expect(
            folder.samples.map(\.path) == [
                "cats/c0.jpg", "cats/c1.png", "cats/c2.PNG", "cats/c3.jpeg", "dogs/cut.png", "dogs/d0.png",
                "dogs/d1.jpg", "dogs/d2.png",
            ])
        let sizes = Dictionary(uniqueKeysWithValues: folder.samples.map { ($0.path, [$0.width, $0.height]) })
        #expect(
            sizes["cats/c0.jpg"] == [30, 20] && sizes["cats/c1.png"] == [13, 11] && sizes["cats/c2.PNG"] == [12, 8])
        #expect(
            sizes["dogs/d0.png"] == [9, 6] && sizes["dogs/d2.png"] == [17, 12] && sizes["dogs/cut.png"] == [30, 20])
        #expect(folder.unreadable.map(\.path) == ["dogs/notes.png"])
        #expect(folder.unreadable.first?.reason.contains(root.appendingPathComponent("dogs/notes.png").path) == true)
        #expect(folder.unreadable.first?.reason.contains("plain text") == true)

        let verified = try ImageFolder(root: root, verify: true)
        #expect(Set(verified.samples.map(\.path)) == Set(Self.readable))
        let reasons = Dictionary(uniqueKeysWithValues: verified.unreadable.map { ($0.path, $0.reason) })
        #expect(reasons.keys.sorted() == ["dogs/cut.png", "dogs/notes.png"])
        #expect(reasons["dogs/cut.png"]?.contains("truncated image") == true)
    }

    @Test("a split of the folder holds every readable image of both formats")
    func split() throws {
        let root = try Self.folder()
        defer { TemporaryDirectory.remove(root) }
        let folder = try ImageFolder(root: root, verify: true)
        let split = try DataSplit.make(folder, root: root, valFraction: 0.4, seed: 3)
        #expect(Set(split.train + split.val) == Set(Self.readable))
        #expect(split.train.count + split.val.count == Self.readable.count)
        #expect(split.val.contains { $0.hasPrefix("cats/") } && split.val.contains { $0.hasPrefix("dogs/") })
        let (train, val) = try split.indices(in: folder)
        #expect(Set(train + val) == Set(0..<folder.count))
        // Written and read back, it still fits the folder.
        let file = root.appendingPathComponent(".graft-split.json")
        try split.write(to: file)
        let read = try #require(try DataSplit.read(from: file, against: folder))
        #expect(read.matches && read.split == split)
    }

    @Test("the loader decodes both formats; each tensor is the decoded file through the transform")
    func loads() throws {
        let root = try Self.folder()
        defer { TemporaryDirectory.remove(root) }
        let folder = try ImageFolder(root: root)
        let transform = try TransformPipeline.eval(resize: 16, crop: 12)
        let log = FailureLog { _ in }
        let loader = try BatchLoader(
            dataset: folder, transform: transform, options: .init(batchSize: 3, shuffle: false), failures: log)
        var batches: [LabeledBatch] = []
        let epoch = loader.prefetching(epoch: 0)
        while let batch = try epoch.nextBatch() { batches.append(batch) }
        let ids = batches.flatMap { $0.ids ?? [] }
        #expect(ids.map(folder.itemName) == folder.samples.map(\.path).filter { $0 != "dogs/cut.png" })
        #expect(log.entries.map(\.name) == ["dogs/cut.png"])
        #expect(log.entries.first?.reason.contains("truncated image") == true)
        var rng = RandomGenerator(seed: 0)
        for batch in batches {
            let per = 3 * 12 * 12
            for (k, id) in (batch.ids ?? []).enumerated() {
                let expected = transform(try ImageFile.decode(contentsOf: folder.url(id)), rng: &rng)
                let got = UnsafeBufferPointer(start: batch.images.pointer + k * per, count: per)
                #expect(
                    Array(got) == Array(UnsafeBufferPointer(start: expected.pointer, count: per)),
                    "\(folder.itemName(id))")
                #expect(batch.labels[k] == folder.label(id))
            }
        }
    }

    @Test("a held-out test folder (what evaluate scores) reads both formats")
    func wholeFolderForEvaluation() throws {
        let root = try Self.folder()
        defer { TemporaryDirectory.remove(root) }
        var spec = DataSpecification(source: root.path, imageSize: 12)
        spec.mean = TransformPipeline.imageNetMean
        spec.std = TransformPipeline.imageNetStd
        let source = try DataSources.wholeFolder(spec, classNames: ["dogs", "cats"], batchSize: 4)
        let batches = try source.batches(epoch: 0, startingAt: 0).all()
        // Labelled by the model's classes (dogs 0, cats 1); the cut PNG fails at decode time.
        #expect(batches.flatMap(\.labels).sorted() == [0, 0, 0, 1, 1, 1, 1])
        #expect(batches.allSatisfy { $0.images.shape.dropFirst() == [3, 12, 12] })
    }

    @Test("the eval transform reads a PNG file as it reads a JPEG")
    func evalTransformReadsPNG() throws {
        let transform = try EvalTransform(resize: 16, crop: 12)
        for name in ["pillow_rgb", "gray_alpha16", "palette4_adam7"] {
            let fromFile = try transform(contentsOf: PNGFixtures.url(name))
            let fromPixels = transform(try PNGFixtures.expected(name))
            #expect(fromFile.shape == [3, 12, 12])
            #expect(fromFile.isBitwiseEqual(to: fromPixels), "\(name)")
        }
    }
}
