import Foundation
import GraftData
import GraftModels
import GraftNN
import GraftTensor
import Testing

@testable import GraftTraining

/// Test-time augmentation's sets of views and its means, checked against a brute-force
/// computation: each view cut out by hand, run through the model alone, its softmax averaged.
struct TestTimeAugmentationTests {
    /// Five random photos of 24×20 and three classes, in memory.
    struct RandomPhotos: Dataset {
        var images: [RGB8Image]
        var count: Int { images.count }
        var classNames: [String] { ["a", "b", "c"] }
        func label(_ index: Int) -> Int { index % 3 }
        func loadImage(_ index: Int, options: JPEGDecodeOptions) throws -> RGB8Image { images[index] }
        func itemName(_ index: Int) -> String { "photo \(index)" }

        init() {
            var rng = RandomGenerator(seed: 21)
            images = (0..<5).map { _ in
                RGB8Image(width: 24, height: 20, pixels: (0..<(24 * 20 * 3)).map { _ in UInt8(rng.next() % 256) })
            }
        }
    }

    @Test("--tta takes flip, crops or both in any order, and names the known views for anything else")
    func parsing() throws {
        #expect(try TestTimeAugmentation(parsing: "flip") == .flip)
        #expect(try TestTimeAugmentation(parsing: "crops") == .crops)
        #expect(try TestTimeAugmentation(parsing: "crops, flip") == .flipAndCrops)
        #expect(TestTimeAugmentation(rawValue: "flip,crops")?.description == "flip,crops")
        #expect([TestTimeAugmentation.flip, .crops, .flipAndCrops].map(\.viewCount) == [2, 5, 10])
        #expect(TestTimeAugmentation(rawValue: "mirror") == nil && TestTimeAugmentation(rawValue: "flip,") == nil)
        do {
            _ = try TestTimeAugmentation(parsing: "flip,tencrop")
            Issue.record("tencrop was accepted")
        } catch {
            #expect(error as? TrainingError == .unknownTestTimeAugmentation(word: "tencrop", known: ["flip", "crops"]))
            #expect(
                error.localizedDescription.contains("'tencrop'") && error.localizedDescription.contains("flip, crops"))
        }
        let json = try JSONEncoder().encode([TestTimeAugmentation.flipAndCrops])
        #expect(String(decoding: json, as: UTF8.self) == #"["flip,crops"]"#)
        #expect(try JSONDecoder().decode([TestTimeAugmentation].self, from: json) == [.flipAndCrops])
    }

    /// Each view of `image` (after Resize(18) of a 24×20 photo: 21×18), cut out by hand:
    /// torchvision's five_crop origins, then the same of the flipped photo.
    static func bruteForceViews(_ image: RGB8Image, _ augmentation: TestTimeAugmentation) -> [RGB8Image] {
        let resized = image.resized(shorterSide: 18)
        #expect(resized.width == 21 && resized.height == 18)
        // Margins 5 and 2: corners at 0 and the margin; the centre at round-half-even(2.5) = 2, 1.
        let origins = [(0, 0), (5, 0), (0, 2), (5, 2), (2, 1)]
        func five(_ image: RGB8Image) -> [RGB8Image] {
            origins.map { image.cropped(x: $0.0, y: $0.1, width: 16, height: 16) }
        }
        let centre = resized.cropped(x: 2, y: 1, width: 16, height: 16)
        switch (augmentation.flip, augmentation.crops) {
        case (true, false): return [centre, centre.flippedHorizontally()]
        case (false, true): return five(resized)
        default: return five(resized) + five(resized.flippedHorizontally())
        }
    }

    @Test(
        "probabilities are the mean of the softmax over the views, each run alone",
        arguments: [TestTimeAugmentation.flip, .crops, .flipAndCrops])
    func meanOverViews(_ augmentation: TestTimeAugmentation) throws {
        let model = Architecture.vanillaCNN.make(numClasses: 3, seed: 4)
        model.eval()
        let dataset = RandomPhotos()
        let pipeline = try TransformPipeline.eval(resize: 18, crop: 16)
        let loader = try BatchLoader(
            dataset: dataset, transform: pipeline, options: .init(batchSize: 2, shuffle: false))
        var expected: [[Double]] = []
        for image in dataset.images {
            var sum = [Double](repeating: 0, count: 3)
            let views = Self.bruteForceViews(image, augmentation)
            #expect(views.count == augmentation.viewCount)
            for view in views {
                var x = Tensor(uninitializedShape: [1, 3, 16, 16])
                pipeline.normalize(view, into: x.mutablePointer())
                let p = CrossEntropy.softmax(model(x)).scalars
                for c in 0..<3 { sum[c] += Double(p[c]) / Double(views.count) }
            }
            expected.append(sum)
        }
        var row = 0
        let batches = try augmentation.views(of: loader).batches(epoch: 0, startingAt: 0)
        while let batch = try batches.next() {
            let p = TestTimeAugmentation.probabilities(
                model, batch.images, views: batch.views, augmentation: augmentation)
            #expect(p.shape == [batch.labels.count, 3])
            for i in 0..<batch.labels.count {
                for c in 0..<3 {
                    #expect(abs(Double(p.scalars[i * 3 + c]) - expected[row][c]) < 1e-5, "image \(row) class \(c)")
                }
                row += 1
            }
        }
        #expect(row == 5)

        // Evaluation.run and Evaluation.classify score those means.
        let labels = (0..<5).map { $0 % 3 }
        let loss = zip(expected, labels).map { -Foundation.log($0[$1]) }.reduce(0, +) / 5
        let correct = zip(expected, labels).filter { p, l in p.indices.max { p[$0] < p[$1] } == l }.count
        let result = try Evaluation.run(model, on: loader, augmentation: augmentation)
        #expect(abs(result.loss - loss) < 1e-5 && result.accuracy == Double(correct) / 5 && result.count == 5)
        let metrics = try Evaluation.classify(
            model, on: loader, classNames: dataset.classNames, augmentation: augmentation)
        #expect(abs(metrics.logLoss - loss) < 1e-5 && metrics.accuracy == Double(correct) / 5)
    }

    @Test("crops need images, not finished tensors; flip works on either")
    func cropsNeedALoader() throws {
        let model = Architecture.vanillaCNN.make(numClasses: 3, seed: 4)
        let images = Tensor(shape: [2, 3, 16, 16], scalars: (0..<(2 * 3 * 16 * 16)).map { Float($0 % 7) / 7 })
        let source = InMemoryBatchSource(images: images, labels: [0, 1], batchSize: 2, shuffle: false)
        #expect(throws: DataError.self) { try Evaluation.run(model, on: source, augmentation: .crops) }
        #expect(try Evaluation.run(model, on: source, augmentation: .flip).count == 2)
    }
}
