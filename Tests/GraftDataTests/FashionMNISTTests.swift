import Foundation
import GraftData
import Testing
import TestSupport

/// Debian's dataset-fashion-mnist (installed by `scripts/install-deps.sh`).
let fashionMNISTPrerequisite = Prerequisite(
    "Fashion-MNIST",
    problem: FashionMNIST.isAvailable(.train) && FashionMNIST.isAvailable(.test)
        ? nil
        : "Debian's dataset-fashion-mnist is not installed (\(FashionMNIST.defaultDirectory.path))")

/// Needs Debian's dataset-fashion-mnist: skipped, saying why, without it; a failure with `CI=true`.
@Suite("Fashion-MNIST", .enabled(if: fashionMNISTPrerequisite.runs, fashionMNISTPrerequisite.comment))
struct FashionMNISTTests {
    init() throws { try fashionMNISTPrerequisite.require() }

    @Test("counts, balanced labels, known first labels, pixel statistics")
    func reader() throws {
        let train = try FashionMNIST(split: .train)
        let test = try FashionMNIST(split: .test)
        #expect(train.count == 60_000 && test.count == 10_000)
        #expect(train.rows == 28 && train.columns == 28)
        var perClass = [Int](repeating: 0, count: 10)
        for i in 0..<train.count { perClass[train.label(i)] += 1 }
        #expect(perClass == [Int](repeating: 6000, count: 10))
        #expect((0..<10).map(train.label) == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5])
        #expect((0..<5).map(test.label) == [9, 2, 1, 1, 6])
        #expect(train.classNames[9] == "Ankle boot")
        // The widely quoted normalisation constants of the training set: mean 0.2860, std 0.3530.
        var sum = 0.0, sumSq = 0.0
        for v in train.pixels { let x = Double(v) / 255; sum += x; sumSq += x * x }
        let n = Double(train.pixels.count)
        let mean = sum / n
        #expect(abs(mean - 0.2860) < 5e-4)
        #expect(abs((sumSq / n - mean * mean).squareRoot() - 0.3530) < 5e-4)
        // First image: an ankle boot, blank top row, gray copied to RGB.
        let image = try train.loadImage(0)
        #expect(image.width == 28 && image.pixels[0..<(28 * 3)].allSatisfy { $0 == 0 })
        #expect(image.pixels.max() == 255)
        #expect(image.pixels[300 * 3] == train.pixels[300] && image.pixels[300 * 3 + 2] == train.pixels[300])
    }

    @Test("class selection and export to a JPEG ImageFolder")
    func export() throws {
        let test = try FashionMNIST(split: .test)
        let picked = test.indices(classes: [0, 9], perClass: 3)
        #expect(picked.count == 6 && picked.allSatisfy { [0, 9].contains(test.label($0)) })
        #expect(
            FashionMNIST.classIndex("ankle boot") == 9 && FashionMNIST.classIndex("t-shirt-top") == 0
                && FashionMNIST.classIndex("4") == 4 && FashionMNIST.classIndex("hat") == nil)
        let dir = try TemporaryDirectory.make("graft-data-tests")
        defer { try? FileManager.default.removeItem(at: dir) }
        try test.exportImageFolder(to: dir, indices: picked, size: 56)
        let folder = try ImageFolder(root: dir)
        #expect(folder.classNames == ["ankle-boot", "t-shirt-top"])
        #expect(folder.count == 6 && folder.samples.allSatisfy { $0.width == 56 && $0.height == 56 })
        let info = try JPEG.probe(contentsOf: folder.url(0))
        #expect(info.components == 1)
        // The decoded JPEG is close to the upscaled source.
        let first = picked.first { test.label($0) == 9 }!
        let source = try test.loadImage(first).resizedBilinear(width: 56, height: 56)
        let decoded = try folder.loadImage(0)
        #expect(byteDifference(decoded, source).mean < 4)
    }

    @Test("in-memory loader over Fashion-MNIST")
    func loader() throws {
        let test = try FashionMNIST(split: .test)
        let pipeline = try TransformPipeline(ops: [], mean: [0.286, 0.286, 0.286], std: [0.353, 0.353, 0.353])
        let loader = try BatchLoader(
            dataset: test, indices: Array(0..<100), transform: pipeline,
            options: .init(batchSize: 32, shuffle: false))
        let batches = try LoaderTests.collect(loader.prefetching(epoch: 0))
        #expect(batches.map(\.labels.count) == [32, 32, 32, 4])
        #expect(batches[0].images.shape == [32, 3, 28, 28])
        #expect(batches[0].labels[0] == 9)
        let v = batches[0].images.pointer[28 * 28 - 1]
        #expect(v == (Float(test.pixels[28 * 28 - 1]) / 255 - 0.286) / 0.353)
    }
}
