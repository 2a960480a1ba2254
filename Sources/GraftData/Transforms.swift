import Foundation
import GraftTensor

extension RandomGenerator {
    /// Uniform in `[low, high)`.
    @inlinable mutating func uniform(_ low: Double, _ high: Double) -> Double {
        low + (high - low) * nextDouble()
    }

    /// Uniform integer in `0..<bound` (unbiased; Lemire's multiply-and-reject). Written out rather
    /// than `Int.random(in:using:)` so the sequence cannot change with the standard library.
    mutating func integer(below bound: Int) -> Int {
        precondition(bound > 0, "bound must be positive")
        let b = UInt64(bound)
        var m = next().multipliedFullWidth(by: b)
        if m.low < b {
            let threshold = (0 &- b) % b
            while m.low < threshold { m = next().multipliedFullWidth(by: b) }
        }
        return Int(m.high)
    }

    /// A seeded stream for one purpose: mixes the parts through SplitMix64 so nearby inputs give
    /// unrelated streams. Used to make orders and augmentations functions of (seed, epoch, index).
    static func stream(_ parts: UInt64...) -> RandomGenerator {
        var h: UInt64 = 0x6A09_E667_F3BC_C909
        for p in parts {
            h ^= p
            h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
            h = (h ^ (h >> 27)) &* 0x94D0_49BB_1331_11EB
            h ^= h >> 31
            h &+= 0x9E37_79B9_7F4A_7C15
        }
        return RandomGenerator(seed: h)
    }

    /// Fisher–Yates shuffle with this generator (the same on every machine).
    mutating func shuffle<T>(_ array: inout [T]) {
        guard array.count > 1 else { return }
        for i in stride(from: array.count - 1, to: 0, by: -1) {
            let j = integer(below: i + 1)
            if i != j { array.swapAt(i, j) }
        }
    }
}

/// One image operation. Sizes are in pixels, torchvision's names and defaults.
public enum ImageOp: Sendable, Equatable, Codable {
    /// `Resize(size)`: shorter side to `shorterSide`, antialiased bilinear (Pillow).
    case resize(shorterSide: Int)
    /// `Resize((height, width))`: exact size.
    case resizeTo(width: Int, height: Int)
    /// `CenterCrop((height, width))`.
    case centerCrop(width: Int, height: Int)
    /// `RandomResizedCrop(size, scale, ratio)`: torchvision's 10 tries, then the central fallback.
    case randomResizedCrop(
        width: Int, height: Int, minScale: Double, maxScale: Double,
        minRatio: Double, maxRatio: Double)
    /// `RandomHorizontalFlip(p)`.
    case horizontalFlip(probability: Double)
    /// `RandomRotation(degrees)`: angle uniform in `[-degrees, degrees]`, fill 0, nearest
    /// (torchvision's default) or bilinear; Pillow's `Image.rotate` pixels.
    case rotation(degrees: Double, bilinear: Bool)
    /// `ColorJitter(brightness, contrast, saturation, hue)`: factors uniform in
    /// `[max(0, 1 - v), 1 + v]` (hue in `[-hue, hue]`), applied in a random order.
    case colorJitter(brightness: Double, contrast: Double, saturation: Double, hue: Double)
    /// `TrivialAugmentWide(num_magnitude_bins: bins)`, fill 0.
    case trivialAugmentWide(bins: Int, bilinear: Bool)
    /// `RandomErasing`: acts on the normalised tensor, so it must come after every image op; on
    /// the uint8 image it is the identity (`TransformPipeline.normalize(_:into:rng:)` runs it).
    case randomErasing(RandomErasing)

    /// `RandomResizedCrop(size)` with torchvision's defaults scale (0.08, 1), ratio (3/4, 4/3).
    public static func randomResizedCrop(size: Int) -> ImageOp {
        .randomResizedCrop(width: size, height: size, minScale: 0.08, maxScale: 1, minRatio: 3.0 / 4, maxRatio: 4.0 / 3)
    }

    public static func centerCrop(size: Int) -> ImageOp { .centerCrop(width: size, height: size) }

    /// Whether the op draws random numbers (and so must not be cached).
    public var isRandom: Bool {
        switch self {
        case .resize, .resizeTo, .centerCrop: false
        case .randomResizedCrop, .horizontalFlip, .rotation, .colorJitter, .trivialAugmentWide, .randomErasing: true
        }
    }

    func validate() throws {
        func positive(_ values: Int...) throws {
            if values.contains(where: { $0 <= 0 }) {
                throw DataError.invalidArgument("\(self): sizes must be positive")
            }
        }
        switch self {
        case .resize(let s): try positive(s)
        case .resizeTo(let w, let h), .centerCrop(let w, let h): try positive(w, h)
        case .randomResizedCrop(let w, let h, let s0, let s1, let r0, let r1):
            try positive(w, h)
            guard s0 > 0, s0 <= s1, r0 > 0, r0 <= r1 else {
                throw DataError.invalidArgument("\(self): need 0 < minScale <= maxScale and 0 < minRatio <= maxRatio")
            }
        case .horizontalFlip(let p):
            guard (0...1).contains(p) else { throw DataError.invalidArgument("flip probability \(p) not in [0, 1]") }
        case .rotation(let d, _):
            guard d >= 0 else { throw DataError.invalidArgument("rotation degrees \(d) must be >= 0") }
        case .colorJitter(let b, let c, let s, let h):
            try ColorJitter(brightness: b, contrast: c, saturation: s, hue: h).validate()
        case .trivialAugmentWide(let bins, _):
            guard bins >= 2 else {
                throw DataError.invalidArgument("TrivialAugmentWide needs at least 2 bins, got \(bins)")
            }
        case .randomErasing(let e): try e.validate()
        }
    }

    /// Applies the op, drawing from `rng` only if it is random.
    public func apply(_ image: RGB8Image, rng: inout RandomGenerator) -> RGB8Image {
        switch self {
        case .resize(let s):
            return image.resized(shorterSide: s)
        case .resizeTo(let w, let h):
            return image.resizedBilinear(width: w, height: h)
        case .centerCrop(let w, let h):
            return image.centerCropped(width: w, height: h)
        case .randomResizedCrop(let w, let h, let s0, let s1, let r0, let r1):
            let box = Self.randomResizedCropBox(
                width: image.width, height: image.height,
                scale: (s0, s1), ratio: (r0, r1), rng: &rng)
            return image.resizedBilinear(width: w, height: h, region: box)
        case .horizontalFlip(let p):
            return rng.nextDouble() < p ? image.flippedHorizontally() : image
        case .rotation(let degrees, let bilinear):
            return image.rotated(degrees: Self.rotationAngle(degrees: degrees, rng: &rng), bilinear: bilinear)
        case .colorJitter(let b, let c, let s, let h):
            return ColorJitter(brightness: b, contrast: c, saturation: s, hue: h).apply(image, rng: &rng)
        case .trivialAugmentWide(let bins, let bilinear):
            let (op, magnitude) = TrivialAugmentWide.draw(bins: bins, rng: &rng)
            return op.apply(image, magnitude: magnitude, bilinear: bilinear)
        case .randomErasing:
            return image
        }
    }

    /// `RandomRotation.get_params`: an angle uniform in `[-degrees, degrees]`.
    static func rotationAngle(degrees: Double, rng: inout RandomGenerator) -> Double {
        rng.uniform(-degrees, degrees)
    }

    /// torchvision's `RandomResizedCrop.get_params`: up to 10 draws of area fraction and log-uniform
    /// aspect ratio; if none fits, the central crop clamped to the ratio range.
    static func randomResizedCropBox(
        width: Int, height: Int, scale: (Double, Double), ratio: (Double, Double),
        rng: inout RandomGenerator
    ) -> (x: Int, y: Int, width: Int, height: Int) {
        let area = Double(width * height)
        let logRatio = (log(ratio.0), log(ratio.1))
        for _ in 0..<10 {
            let targetArea = area * rng.uniform(scale.0, scale.1)
            let aspect = exp(rng.uniform(logRatio.0, logRatio.1))
            let w = Int((targetArea * aspect).squareRoot().rounded(.toNearestOrEven))
            let h = Int((targetArea / aspect).squareRoot().rounded(.toNearestOrEven))
            if w > 0 && w <= width && h > 0 && h <= height {
                let y = rng.integer(below: height - h + 1)
                let x = rng.integer(below: width - w + 1)
                return (x, y, w, h)
            }
        }
        let inRatio = Double(width) / Double(height)
        var w = width, h = height
        if inRatio < min(ratio.0, ratio.1) {
            h = Int((Double(w) / min(ratio.0, ratio.1)).rounded(.toNearestOrEven))
        } else if inRatio > max(ratio.0, ratio.1) {
            w = Int((Double(h) * max(ratio.0, ratio.1)).rounded(.toNearestOrEven))
        }
        return ((width - w) / 2, (height - h) / 2, w, h)
    }
}

/// A list of image ops followed by ToTensor + Normalize: uint8 HWC in, float32 CHW out.
/// Codable, so a run can store exactly the pipeline it trained with.
public struct TransformPipeline: Sendable, Equatable, Codable {
    public static let imageNetMean: [Float] = [0.485, 0.456, 0.406]
    public static let imageNetStd: [Float] = [0.229, 0.224, 0.225]

    public var ops: [ImageOp]
    public var mean: [Float]
    public var std: [Float]
    /// After `ops`, the crops of test-time augmentation (`withCropViews(mirrored:)`); nil gives
    /// one image per input.
    public var cropViews: CropViews? = nil

    /// - Throws: `DataError.invalidArgument` for a bad op or mean/std that are not 3 values (std > 0).
    public init(ops: [ImageOp], mean: [Float] = imageNetMean, std: [Float] = imageNetStd) throws {
        guard mean.count == 3, std.count == 3, std.allSatisfy({ $0 > 0 }) else {
            throw DataError.invalidArgument("mean and std need 3 values each, std > 0 (got \(mean), \(std))")
        }
        for op in ops { try op.validate() }
        if let last = ops.lastIndex(where: { if case .randomErasing = $0 { false } else { true } }),
            ops[..<last].contains(where: { if case .randomErasing = $0 { true } else { false } })
        {
            throw DataError.invalidArgument(
                "random erasing works on the normalised tensor: put it after every image op")
        }
        self.ops = ops
        self.mean = mean
        self.std = std
    }

    /// torchvision's eval recipe: Resize(resize) → CenterCrop(crop) → ToTensor → Normalize.
    public static func eval(
        resize: Int = 256, crop: Int = 224, mean: [Float] = imageNetMean,
        std: [Float] = imageNetStd
    ) throws -> TransformPipeline {
        try TransformPipeline(ops: [.resize(shorterSide: resize), .centerCrop(size: crop)], mean: mean, std: std)
    }

    /// The usual fine-tuning recipe: RandomResizedCrop(size) → RandomHorizontalFlip(0.5), optionally
    /// preceded by Resize(`preResize`) so decoded images can be cached small (0 = no pre-resize).
    public static func train(
        size: Int = 224, preResize: Int = 0, mean: [Float] = imageNetMean,
        std: [Float] = imageNetStd, extra: [ImageOp] = []
    ) throws -> TransformPipeline {
        var ops: [ImageOp] = preResize > 0 ? [.resize(shorterSide: preResize)] : []
        ops += [.randomResizedCrop(size: size), .horizontalFlip(probability: 0.5)] + extra
        return try TransformPipeline(ops: ops, mean: mean, std: std)
    }

    /// How many leading ops are deterministic: their output can be cached per image.
    public var deterministicPrefixCount: Int { ops.firstIndex(where: \.isRandom) ?? ops.count }

    /// A decode hint: when the first op is `resize(s)`, the decoder may use DCT scaling as long as
    /// the shorter side stays at least `2 s` (the antialiased resize then hides the difference).
    public var decodeMinimumShortSide: Int {
        if case .resize(let s) = ops.first { return 2 * s }
        return 0
    }

    /// The first two ops when they are Resize(shorter side) → CenterCrop, which the JPEG decoder
    /// can run itself (`JPEGDecodeOptions.resizeAndCenterCrop`).
    public var leadingResizeAndCenterCrop: JPEGDecodeOptions.ResizeAndCenterCrop? {
        guard ops.count >= 2, case .resize(let s) = ops[0], case .centerCrop(let w, let h) = ops[1] else { return nil }
        return .init(shorterSide: s, width: w, height: h)
    }

    /// Runs `ops[range]`.
    public func applyOps(_ image: RGB8Image, range: Range<Int>? = nil, rng: inout RandomGenerator) -> RGB8Image {
        let range = range ?? 0..<ops.count
        var out = image
        var i = range.lowerBound
        while i < range.upperBound {
            // Resize then CenterCrop (inside the resized image): resize only the cropped window.
            if i + 1 < range.upperBound, case .resize(let s) = ops[i], case .centerCrop(let cw, let ch) = ops[i + 1] {
                let (w, h) = RGB8Image.resizedSize(width: out.width, height: out.height, shorterSide: s)
                if cw <= w && ch <= h {
                    let o = RGB8Image.centerCropOrigin(width: w, height: h, cropWidth: cw, cropHeight: ch)
                    out = out.resizedBilinear(width: w, height: h, window: (o.x, o.y, cw, ch))
                    i += 2
                    continue
                }
            }
            out = ops[i].apply(out, rng: &rng)
            i += 1
        }
        return out
    }

    /// ToTensor + Normalize into `destination` (3 planes of `width * height`), in float32 exactly as
    /// torchvision: `(v / 255 - mean) / std` (through a 256-entry table per channel).
    public func normalize(_ image: RGB8Image, into destination: UnsafeMutablePointer<Float>) {
        let plane = image.width * image.height
        var table = [Float](repeating: 0, count: 768)
        for c in 0..<3 {
            for v in 0..<256 { table[c * 256 + v] = (Float(v) / 255 - mean[c]) / std[c] }
        }
        table.withUnsafeBufferPointer { tBuf in
            let t = tBuf.baseAddress!
            image.pixels.withUnsafeBufferPointer { srcBuf in
                let src = srcBuf.baseAddress!
                let d0 = destination, d1 = destination + plane, d2 = destination + 2 * plane
                for i in 0..<plane {
                    d0[i] = t[Int(src[3 * i])]
                    d1[i] = t[256 + Int(src[3 * i + 1])]
                    d2[i] = t[512 + Int(src[3 * i + 2])]
                }
            }
        }
    }

    /// ToTensor + Normalize, then the trailing random erasing ops drawing from `rng` (the stream
    /// the image ops drew from, so a sample stays a function of its seed).
    public func normalize(_ image: RGB8Image, into destination: UnsafeMutablePointer<Float>, rng: inout RandomGenerator)
    {
        normalize(image, into: destination)
        for op in ops {
            if case .randomErasing(let e) = op {
                e.apply(to: destination, width: image.width, height: image.height, rng: &rng)
            }
        }
    }

    /// Whether the pipeline ends with random erasing (work on the tensor after normalising).
    public var erasesTensor: Bool {
        ops.contains { if case .randomErasing = $0 { true } else { false } }
    }

    /// Ops then ToTensor + Normalize (then random erasing): a `[3, H, W]` tensor.
    public func callAsFunction(_ image: RGB8Image, rng: inout RandomGenerator) -> Tensor {
        let out = applyOps(image, rng: &rng)
        var t = Tensor(uninitializedShape: [3, out.height, out.width])
        normalize(out, into: t.mutablePointer(), rng: &rng)
        return t
    }
}

/// The standard evaluation transform (what `graft predict` applies):
/// Resize(`resize`) → CenterCrop(`crop`) → ToTensor → Normalize(`mean`, `std`), bit-for-bit the
/// torchvision/Pillow result on the same decoded pixels.
public struct EvalTransform: Sendable, Equatable {
    public let pipeline: TransformPipeline
    public var decodeOptions: JPEGDecodeOptions

    /// - Parameter resize: the shorter side after resizing.
    /// - Parameter crop: the side of the center crop.
    /// - Parameter mean: per-channel mean subtracted after scaling to [0, 1].
    /// - Parameter std: per-channel standard deviation divided by.
    /// - Parameter dctScaling: allow libjpeg's DCT scaling for photos much larger than `resize`
    ///   (faster; no longer bit-exact with Pillow for those photos).
    public init(
        resize: Int = 256, crop: Int = 224, mean: [Float] = TransformPipeline.imageNetMean,
        std: [Float] = TransformPipeline.imageNetStd, dctScaling: Bool = false
    ) throws {
        pipeline = try .eval(resize: resize, crop: crop, mean: mean, std: std)
        decodeOptions = JPEGDecodeOptions(
            applyOrientation: true,
            minimumShortSide: dctScaling ? pipeline.decodeMinimumShortSide : 0)
    }

    /// `[3, crop, crop]` for one decoded image.
    public func callAsFunction(_ image: RGB8Image) -> Tensor {
        var rng = RandomGenerator(seed: 0)
        return pipeline(image, rng: &rng)
    }

    /// Decodes a JPEG or PNG file into test-time augmentation's crop views, `[5, 3, crop, crop]` in
    /// torchvision's `five_crop` order, or `mirrored` `[10, 3, crop, crop]` as `TenCrop`: the
    /// crops of the photo resized to `resize` (`TransformPipeline.withCropViews(mirrored:)`),
    /// the centre one being what `callAsFunction` gives.
    /// - Parameters:
    ///   - url: the image file.
    ///   - mirrored: add the five crops of the flipped photo (`TenCrop`).
    /// - Throws: the decoder's errors; `DataError.invalidArgument` when the crops do not fit.
    public func cropViews(contentsOf url: URL, mirrored: Bool) throws -> Tensor {
        let views = try pipeline.withCropViews(mirrored: mirrored)
        var rng = RandomGenerator(seed: 0)
        let image = views.applyOps(try ImageFile.decode(contentsOf: url, options: decodeOptions), rng: &rng)
        let crops = try views.views(of: image)
        let h = crops[0].height, w = crops[0].width
        var t = Tensor(uninitializedShape: [crops.count, 3, h, w])
        let base = t.mutablePointer()
        for (k, crop) in crops.enumerated() { views.normalize(crop, into: base + k * 3 * h * w) }
        return t
    }

    /// Decodes a JPEG or PNG file and transforms it (for a JPEG, resize and crop run inside the
    /// decoder, which then decodes only the part of the photo the crop needs; same pixels).
    /// - Parameter url: the image file.
    /// - Throws: `DataError` naming the file when it cannot be read or decoded.
    public func callAsFunction(contentsOf url: URL) throws -> Tensor {
        var options = decodeOptions
        options.resizeAndCenterCrop = pipeline.leadingResizeAndCenterCrop
        let image = try ImageFile.decode(contentsOf: url, options: options)
        var t = Tensor(uninitializedShape: [3, image.height, image.width])
        pipeline.normalize(image, into: t.mutablePointer())
        return t
    }
}
