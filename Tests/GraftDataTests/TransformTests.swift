import Foundation
import GraftData
import GraftTensor
import Testing
import TestSupport

@Suite("Transforms")
struct TransformTests {
    @Test("eval transform matches torchvision's eval224", arguments: ["flower", "china", "rocket"])
    func eval224(name: String) throws {
        let transform = try EvalTransform(resize: 256, crop: 224)
        let out = try transform(contentsOf: Fixtures.url("images/\(name).jpg"))
        let expected = try NPY.float(Fixtures.url("images/\(name).eval224.npy"))
        #expect(out.shape == [3, 224, 224])
        var maxDiff: Float = 0, total: Double = 0
        for i in 0..<out.count {
            let d = abs(out.pointer[i] - expected.pointer[i])
            maxDiff = max(maxDiff, d)
            total += Double(d)
        }
        let mean = total / Double(out.count)
        #expect(maxDiff <= 0.15 && mean <= 0.01, "\(name): max \(maxDiff) mean \(mean)")
        // The resize is Pillow's fixed-point filter and normalisation is float32 as torchvision: exact.
        #expect(maxDiff == 0, "\(name): max \(maxDiff) mean \(mean)")
    }

    @Test("Resize(256) gives 383x256 and CenterCrop rounds half to even")
    func geometry() throws {
        #expect(RGB8Image.resizedSize(width: 640, height: 427, shorterSide: 256) == (383, 256))
        #expect(RGB8Image.resizedSize(width: 427, height: 640, shorterSide: 256) == (256, 383))
        // A ramp image shows the crop offset: 383 - 224 = 159, 79.5 rounds to 80.
        let ramp = RGB8Image(width: 383, height: 256) { p in
            for y in 0..<256 { for x in 0..<383 { for c in 0..<3 { p[(y * 383 + x) * 3 + c] = UInt8(x % 256) } } }
        }
        let crop = ramp.centerCropped(width: 224, height: 224)
        #expect(crop.pixels[0] == 80)
        // 161 / 2 = 80.5 rounds to 80 too.
        let wider = RGB8Image(width: 385, height: 224) { p in
            for y in 0..<224 { for x in 0..<385 { for c in 0..<3 { p[(y * 385 + x) * 3 + c] = UInt8(x % 256) } } }
        }
        #expect(wider.centerCropped(width: 224, height: 224).pixels[0] == 80)
        // Larger than the image: padded with zeros around the centre.
        let small = RGB8Image(width: 2, height: 2, fill: 9)
        let padded = small.centerCropped(width: 4, height: 4)
        #expect(padded.pixels[(1 * 4 + 1) * 3] == 9 && padded.pixels[0] == 0)
    }

    @Test("resizing only a window equals resizing fully and cropping")
    func windowedResize() throws {
        let image = try fixtureImage("images/flower_baseline420.rgb.npy")  // 250 x 167
        for (w, h, win) in [
            (120, 80, (10, 7, 100, 60)), (383, 256, (80, 16, 224, 224)), (250, 90, (3, 0, 200, 90)),
            (100, 167, (0, 20, 100, 100)), (300, 200, (299, 199, 1, 1)),
        ] {
            let full = image.resizedBilinear(width: w, height: h)
            let part = image.resizedBilinear(width: w, height: h, window: win)
            #expect(part == full.cropped(x: win.0, y: win.1, width: win.2, height: win.3), "\(w)x\(h) \(win)")
        }
        // The pipeline fuses Resize + CenterCrop; the unfused ops give the same bytes.
        let pipeline = try TransformPipeline.eval(resize: 100, crop: 64)
        var rng = RandomGenerator(seed: 0)
        let fused = pipeline.applyOps(image, rng: &rng)
        let separate = image.resized(shorterSide: 100).centerCropped(width: 64, height: 64)
        #expect(fused == separate)
    }

    @Test("bilinear resize of a constant image stays constant, and upscaling works")
    func resizeConstant() {
        let image = RGB8Image(width: 37, height: 23, fill: 173)
        for (w, h) in [(10, 7), (80, 50), (37, 5), (3, 23)] {
            let r = image.resizedBilinear(width: w, height: h)
            #expect(r.width == w && r.height == h && r.pixels.allSatisfy { $0 == 173 })
        }
    }

    @Test("horizontal flip and rotation by 180 degrees are exact permutations")
    func flipRotate() throws {
        let image = try fixtureImage("images/flower_baseline420.rgb.npy")
        let flipped = image.flippedHorizontally()
        #expect(flipped.flippedHorizontally() == image)
        let w = image.width
        #expect(Array(flipped.pixels[0..<3]) == Array(image.pixels[(w - 1) * 3..<w * 3]))
        // Rotation by 180 maps pixel centres exactly onto pixel centres (nearest).
        let r = image.rotated(degrees: 180, bilinear: false)
        let last = image.pixels.count - 3
        #expect(Array(r.pixels[0..<3]) == Array(image.pixels[last..<last + 3]))
        let rb = image.rotated(degrees: 180, bilinear: true)
        #expect(rb == r)
        // A 90° rotation of a non-square image leaves corners filled with 0.
        let r90 = image.rotated(degrees: 90, bilinear: true)
        #expect(r90.width == image.width && Array(r90.pixels[0..<3]) == [0, 0, 0])
    }

    @Test("colour ops follow Pillow's ImageEnhance blending")
    func colorOps() {
        let image = RGB8Image(width: 2, height: 1, pixels: [200, 100, 50, 10, 20, 30])
        #expect(image.adjustedBrightness(0.5).pixels == [100, 50, 25, 5, 10, 15])
        #expect(image.adjustedBrightness(2).pixels == [255, 200, 100, 20, 40, 60])
        // L = (r*19595 + g*38470 + b*7471 + 32768) >> 16: 124 and 18; mean 71.
        #expect(image.adjustedSaturation(0).pixels == [124, 124, 124, 18, 18, 18])
        #expect(image.adjustedContrast(0).pixels == [71, 71, 71, 71, 71, 71])
        // factor 1 is the identity for all three.
        #expect(image.adjustedContrast(1) == image && image.adjustedSaturation(1) == image)
    }

    @Test("random ops: output shape, same seed same result, different seed different result")
    func randomDeterminism() throws {
        let image = try JPEG.decode(contentsOf: Fixtures.url("images/flower.jpg"))
        let pipeline = try TransformPipeline.train(
            size: 96,
            extra: [
                .rotation(degrees: 15, bilinear: true),
                .colorJitter(brightness: 0.3, contrast: 0.3, saturation: 0.3, hue: 0.1),
            ])
        var a = RandomGenerator(seed: 7), b = RandomGenerator(seed: 7), c = RandomGenerator(seed: 8)
        let ta = pipeline(image, rng: &a), tb = pipeline(image, rng: &b), tc = pipeline(image, rng: &c)
        #expect(ta.shape == [3, 96, 96])
        #expect(ta.isBitwiseEqual(to: tb))
        #expect(!ta.isBitwiseEqual(to: tc))
        #expect(a == b)  // the generators advanced identically: state can be saved and restored
        for op in pipeline.ops {
            var r1 = RandomGenerator(seed: 3), r2 = RandomGenerator(seed: 3)
            let o1 = op.apply(image, rng: &r1), o2 = op.apply(image, rng: &r2)
            #expect(o1 == o2, "\(op)")
        }
    }

    @Test("RandomResizedCrop boxes respect scale and ratio; the fallback is central")
    func randomResizedCropBox() throws {
        var rng = RandomGenerator(seed: 1)
        for _ in 0..<500 {
            let image = RGB8Image(width: 64, height: 48, fill: 1)
            let out = ImageOp.randomResizedCrop(size: 32).apply(image, rng: &rng)
            #expect(out.width == 32 && out.height == 32)
        }
        // An impossible scale range (> 1) forces the fallback: a 4:3-limited central crop.
        var r2 = RandomGenerator(seed: 0)
        let strip = RGB8Image(width: 200, height: 20) { p in
            for y in 0..<20 { for x in 0..<200 { for c in 0..<3 { p[(y * 200 + x) * 3 + c] = UInt8(x) } } }
        }
        let op = ImageOp.randomResizedCrop(
            width: 27, height: 20, minScale: 2, maxScale: 3,
            minRatio: 3.0 / 4, maxRatio: 4.0 / 3)
        // Fallback: h = 20, w = round(20 * 4/3) = 27, x = (200 - 27) / 2 = 86: an identity resize.
        let out = op.apply(strip, rng: &r2)
        #expect(out.pixels[0] == 86 && out.pixels[26 * 3] == 112)
    }

    @Test("normalize is (v/255 - mean)/std per channel in float32")
    func normalize() throws {
        let pipeline = try TransformPipeline(ops: [])
        let image = RGB8Image(width: 1, height: 1, pixels: [0, 128, 255])
        var rng = RandomGenerator(seed: 0)
        let t = pipeline(image, rng: &rng)
        #expect(t.shape == [3, 1, 1])
        let mean: [Float] = [0.485, 0.456, 0.406], std: [Float] = [0.229, 0.224, 0.225]
        let values: [Float] = [0, 128, 255]
        for c in 0..<3 { #expect(t.pointer[c] == (values[c] / 255 - mean[c]) / std[c]) }
        #expect(throws: DataError.self) { try TransformPipeline(ops: [.resize(shorterSide: 0)]) }
    }
}
