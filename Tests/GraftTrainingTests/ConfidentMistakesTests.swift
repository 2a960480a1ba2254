import Foundation
import GraftCatalog
import GraftData
import GraftNN
import GraftTensor
import Testing

@testable import GraftTraining

/// The most confident mistakes: the misclassified samples with the highest loss, kept in a small
/// heap, checked against sorting every sample.
struct ConfidentMistakesTests {
    /// Every mistake of `rows`, sorted by loss (highest first, earlier first on ties), computed
    /// directly: argmax with ties to the lower class, loss = log Σ exp z − z[label].
    static func bruteForce(_ rows: [[Double]], labels: [Int], ids: [Int], keep: Int) -> [(id: Int, loss: Double)] {
        var all: [(id: Int, loss: Double, order: Int)] = []
        for (i, z) in rows.enumerated() {
            var predicted = 0
            for c in z.indices where z[c] > z[predicted] { predicted = c }
            guard predicted != labels[i] else { continue }
            let m = z.max()!
            all.append((ids[i], m + log(z.map { exp($0 - m) }.reduce(0, +)) - z[labels[i]], i))
        }
        all.sort { $0.loss > $1.loss || ($0.loss == $1.loss && $0.order < $1.order) }
        return all.prefix(keep).map { ($0.id, $0.loss) }
    }

    @Test func theHeapKeepsTheHighestLossMistakesAsSortingEverythingDoes() {
        var state: UInt64 = 12345
        func next() -> Double {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Double(state >> 11) / Double(1 << 53)
        }
        let classes = 5, count = 63
        var rows = (0..<count).map { _ in (0..<classes).map { _ in (next() * 8 - 4) } }
        var labels = (0..<count).map { _ in Int(next() * Double(classes)) }
        // Exact duplicates tie in loss: the earlier one must win.
        for (a, b) in [(3, 40), (10, 11), (20, 62)] { rows[b] = rows[a]; labels[b] = labels[a] }
        let ids = (0..<count).map { 1000 + 3 * $0 }
        for capacity in [0, 1, 6, 200] {
            var kept = ConfidentMistakes(capacity: capacity)
            for start in stride(from: 0, to: count, by: 7) {
                let end = min(count, start + 7)
                let logits = Tensor(
                    shape: [end - start, classes], scalars: rows[start..<end].flatMap { $0.map(Float.init) })
                kept.add(logits: logits, labels: Array(labels[start..<end]), ids: Array(ids[start..<end]))
            }
            let expected = Self.bruteForce(
                rows.map { $0.map { Double(Float($0)) } }, labels: labels, ids: ids, keep: capacity)
            let got = kept.worstFirst
            #expect(got.map(\.id) == expected.map(\.id), "capacity \(capacity)")
            #expect(zip(got, expected).allSatisfy { abs($0.loss - $1.loss) < 1e-9 })
            #expect(got.allSatisfy { $0.predictedClass != $0.trueClass && $0.probability > 0 && $0.probability <= 1 })
            if capacity == 200 { #expect(got.count == expected.count && got.count > 20, "every mistake kept") }
        }
    }

    @Test func evaluationKeepsTheWorstMistakesWithNamesAndThumbnails() throws {
        let classes = ["a", "b", "c"]
        // 20 images 40 × 40 (three colour patterns) and one wide photo-like image 200 × 100.
        var images = (0..<20).map { i in
            RGB8Image(width: 40, height: 40) { p in
                for k in 0..<(40 * 40 * 3) { p[k] = UInt8((k * (i + 3) + 17 * i) % 256) }
            }
        }
        images.append(
            RGB8Image(width: 200, height: 100) { p in for k in 0..<(200 * 100 * 3) { p[k] = UInt8(k % 251) } })
        let labels = images.indices.map { $0 % 3 }
        let dataset = Memory(images: images, labelValues: labels, classNames: classes)
        let source = try BatchLoader(
            dataset: dataset,
            transform: try TransformPipeline(
                ops: [.resizeTo(width: 8, height: 8)], mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]),
            options: .init(batchSize: 4, shuffle: false))
        var rng = RandomGenerator(seed: 7)
        let model = Sequential([Flatten(), Linear(3 * 8 * 8, 3, rng: &rng)])

        let classified = try Evaluation.classifyKeepingMistakes(
            model, on: source, classNames: classes, topK: [1, 2], mistakes: 4)
        // Brute force: each image on its own through the model.
        var rows: [[Double]] = []
        for batch in try source.batches(epoch: 0, startingAt: 0).all() {
            let logits = model(batch.images)
            for r in 0..<batch.labels.count { rows.append((0..<3).map { Double(logits.pointer[r * 3 + $0]) }) }
        }
        let expected = Self.bruteForce(rows, labels: labels, ids: Array(images.indices), keep: 4)
        #expect(classified.mistakes.map(\.id) == expected.map(\.id))
        #expect(!expected.isEmpty, "an untrained model makes mistakes")
        let wrong =
            classified.metrics.count
            - classified.metrics.confusion.indices.reduce(0) {
                $0 + classified.metrics.confusion[$1][$1]
            }
        #expect(wrong >= expected.count)

        // Stored: named by the source, with a JPEG thumbnail of the image as decoded.
        let details = try EvaluationDetails(classified.metrics, mistakes: classified.mistakes, source: source)
        #expect(details.mistakes.map(\.index) == expected.map(\.id))
        #expect(details.mistakes.map(\.sample) == expected.map { "#\($0.id)" })
        #expect(details.confusion == classified.metrics.confusion)
        for m in details.mistakes {
            let jpeg = try #require(m.thumbnailJPEG.flatMap { Data(base64Encoded: $0) })
            let thumbnail = try JPEG.decode(jpeg)
            let original = images[m.index]
            let side = max(original.width, original.height)
            #expect(thumbnail.width == (side > 96 ? original.width * 96 / side : original.width))
            #expect(thumbnail.height == (side > 96 ? original.height * 96 / side : original.height))
        }
        // The wide image shrinks to at most 96 pixels, its aspect ratio kept.
        let wide = try JPEG.decode(try images[20].jpegThumbnail())
        #expect(wide.width == 96 && wide.height == 48)
    }

    struct Memory: Dataset {
        var images: [RGB8Image]
        var labelValues: [Int]
        var classNames: [String]
        var count: Int { images.count }
        func label(_ index: Int) -> Int { labelValues[index] }
        func loadImage(_ index: Int, options: JPEGDecodeOptions) throws -> RGB8Image { images[index] }
    }
}
