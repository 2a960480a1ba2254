import Foundation
import GraftData
import GraftTensor
import Testing
import TestSupport

/// Test-time augmentation's crop views against torchvision's `TenCrop` (the committed fixture
/// `Tests/Fixtures/tencrop`, written by `scripts/tencrop-fixture.py`), and batches of views.
@Suite("Crop views (FiveCrop, TenCrop)")
struct CropViewsTests {
    /// The shared fixtures' tolerance for an evaluation tensor whose resize rounding may differ
    /// from Pillow's: about one uint8 level after normalisation (1/255/0.225 ≈ 0.0174).
    static let tolerance: Float = 0.02

    static func compare(_ ours: Tensor, _ torch: Tensor, _ what: String) {
        #expect(ours.shape == torch.shape, "\(what): \(ours.shape) against \(torch.shape)")
        guard ours.shape == torch.shape else { return }
        var worst: Float = 0, total: Float = 0
        for (a, b) in zip(ours.scalars, torch.scalars) {
            worst = max(worst, abs(a - b))
            total += abs(a - b)
        }
        #expect(worst <= tolerance, "\(what): max |Δ| \(worst)")
        #expect(total / Float(ours.count) <= 0.002, "\(what): mean |Δ| \(total / Float(ours.count))")
    }

    /// Views `range` of a `[V, 3, S, S]` tensor.
    static func views(_ t: Tensor, _ range: Range<Int>) -> Tensor {
        let per = t.count / t.size(0)
        return Tensor(
            shape: [range.count] + Array(t.shape.dropFirst()),
            scalars: Array(t.scalars[(range.lowerBound * per)..<(range.upperBound * per)]))
    }

    @Test(
        "a photo's ten crops are torchvision's Resize(64) → TenCrop(56), in its order",
        .enabled(if: Fixtures.available, "needs the shared fixtures"))
    func photoTenCrop() throws {
        let torch = try NPY.float(Fixtures.committed("tencrop/flower.resize64.tencrop56.npy"))
        let transform = try EvalTransform(resize: 64, crop: 56)
        let url = Fixtures.url("images/flower.jpg")
        let ten = try transform.cropViews(contentsOf: url, mirrored: true)
        Self.compare(ten, torch, "TenCrop")
        let five = try transform.cropViews(contentsOf: url, mirrored: false)
        Self.compare(five, Self.views(torch, 0..<5), "FiveCrop")
        // The centre view is the evaluation image itself, bit for bit.
        #expect(Self.views(five, 4..<5).scalars == (try transform(contentsOf: url)).scalars)
        // 640×427 resized to 95×64 leaves an odd margin (39): the flipped photo's centre crop is
        // one pixel off the centre crop's mirror, and torchvision takes it from the flipped photo.
        #expect(Self.views(ten, 9..<10).scalars != Self.views(ten, 4..<5).scalars)
    }

    @Test(
        "a plain resize to 28×28 takes its crops from the image resized to 32×32 (28 / 0.875)",
        .enabled(if: Fixtures.available, "needs the shared fixtures"))
    func plainResizeTenCrop() throws {
        let torch = try NPY.float(Fixtures.committed("tencrop/china.resize32x32.tencrop28.npy"))
        let pipeline = try TransformPipeline(ops: [.resizeTo(width: 28, height: 28)])
        let views = try pipeline.withCropViews(mirrored: true)
        #expect(views.ops == [.resizeTo(width: 32, height: 32)])
        #expect(views.cropViews == CropViews(width: 28, height: 28, mirrored: true) && views.viewCount == 10)
        var rng = RandomGenerator(seed: 0)
        let image = views.applyOps(try fixtureImage("images/china.rgb.npy"), rng: &rng)
        let crops = try views.views(of: image)
        var t = Tensor(uninitializedShape: [10, 3, 28, 28])
        for (k, crop) in crops.enumerated() { views.normalize(crop, into: t.mutablePointer() + k * 3 * 28 * 28) }
        Self.compare(t, torch, "Resize((32, 32)) → TenCrop(28)")
    }

    @Test("corners and centre follow torchvision's five_crop; pipelines without a fixed size are refused")
    func geometry() throws {
        let origins = try CropViews(width: 4, height: 3, mirrored: false).origins(imageWidth: 9, imageHeight: 6)
        #expect(origins.map { [$0.x, $0.y] } == [[0, 0], [5, 0], [0, 3], [5, 3], [2, 2]])
        #expect(throws: DataError.self) {
            try CropViews(width: 10, height: 3, mirrored: false).origins(imageWidth: 9, imageHeight: 6)
        }
        let eval = try TransformPipeline.eval(resize: 64, crop: 56)
        let views = try eval.withCropViews(mirrored: false)
        #expect(views.ops == [.resize(shorterSide: 64)] && views.viewCount == 5)
        #expect(throws: DataError.self) { try views.withCropViews(mirrored: false) }
        #expect(throws: DataError.self) { try TransformPipeline.train(size: 56).withCropViews(mirrored: false) }
        #expect(throws: DataError.self) {
            try TransformPipeline(ops: [.resize(shorterSide: 64)]).withCropViews(mirrored: false)
        }
    }

    @Test("a loader's crop views: the same samples in order, each image's views consecutive")
    func loaderViews() throws {
        let dataset = MemoryDataset.gradient(count: 7, classes: 3)
        let loader = try BatchLoader(
            dataset: dataset, transform: try TransformPipeline.eval(resize: 36, crop: 32),
            options: .init(batchSize: 3, shuffle: false, cacheBytes: 1 << 20))
        let views = try loader.cropViews(mirrored: true)
        let plain = try loader.batches(epoch: 0, startingAt: 0).all()
        let viewed = try views.batches(epoch: 0, startingAt: 0).all()
        #expect(viewed.map(\.labels) == plain.map(\.labels) && viewed.map(\.ids) == plain.map(\.ids))
        #expect(viewed.allSatisfy { $0.views == 10 && $0.images.shape == [$0.labels.count * 10, 3, 32, 32] })
        let per = 3 * 32 * 32
        let pipeline = try TransformPipeline.eval(resize: 36, crop: 32).withCropViews(mirrored: true)
        var rng = RandomGenerator(seed: 0)
        for (b, batch) in viewed.enumerated() {
            for (i, id) in batch.ids!.enumerated() {
                let crops = try pipeline.views(of: pipeline.applyOps(dataset.images[id], rng: &rng))
                for (v, crop) in crops.enumerated() {
                    var expected = Tensor(uninitializedShape: [3, 32, 32])
                    pipeline.normalize(crop, into: expected.mutablePointer())
                    let row = (i * 10 + v) * per
                    #expect(
                        Array(batch.images.scalars[row..<(row + per)]) == expected.scalars,
                        "batch \(b) item \(i) view \(v)")
                }
                // The centre view is the plain batch's image.
                let centre = (i * 10 + 4) * per
                #expect(
                    Array(batch.images.scalars[centre..<(centre + per)])
                        == Array(plain[b].images.scalars[(i * per)..<((i + 1) * per)]))
            }
        }
        #expect(throws: DataError.self) {
            try InMemoryBatchSource(images: plain[0].images, labels: plain[0].labels, batchSize: 2, shuffle: false)
                .cropViews(mirrored: false)
        }
    }
}
