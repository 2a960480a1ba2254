import Foundation
import GraftTensor

/// Training-time augmentation of a run: which of torchvision's random transforms run on the
/// training images, with torchvision's parameters. Stored in the run's data specification, so a
/// resumed run rebuilds the same pipeline and the catalog and model card record it.
///
/// The ops run in this order, after the resize to the model's input:
/// RandomResizedCrop → RandomHorizontalFlip(0.5) → RandomRotation → ColorJitter →
/// TrivialAugmentWide → ToTensor → Normalize → RandomErasing, as torchvision's reference training
/// recipe orders its presets (erasing works on the normalised tensor).
public struct Augmentation: Codable, Sendable, Equatable, CustomStringConvertible {
    /// The named starting points of `--augment`.
    public enum Preset: String, Codable, Sendable, CaseIterable {
        /// RandomResizedCrop + horizontal flip: what `--augment` always meant.
        case light
        /// `light` + TrivialAugmentWide: torchvision's reference recipe with `--auto-augment ta_wide`.
        case standard
        /// `standard` + RandomErasing(p = 0.25), as the reference recipe's `--random-erase`.
        case strong
    }

    /// The preset these settings started from, if any (recorded for people; the fields below are
    /// what runs).
    public var preset: Preset? = nil
    /// RandomResizedCrop (scale (0.08, 1), ratio (3/4, 4/3); scale from 0.6 on Fashion-MNIST's small
    /// centred items) followed by RandomHorizontalFlip(0.5).
    public var cropAndFlip: Bool = false
    /// `RandomRotation(degrees)`: an angle uniform in [-degrees, degrees], nearest, fill 0.
    public var rotation: Double? = nil
    /// `ColorJitter(brightness, contrast, saturation, hue)`.
    public var colorJitter: ColorJitter? = nil
    /// `TrivialAugmentWide()`: 31 magnitude bins, nearest, fill 0.
    public var trivialAugment: Bool = false
    /// `RandomErasing(p)` with its defaults: scale (0.02, 0.33), ratio (0.3, 3.3), value 0.
    public var randomErasing: Double? = nil

    /// No augmentation.
    public init() {}

    /// The settings of a preset.
    public init(preset: Preset) {
        self.preset = preset
        cropAndFlip = true
        if preset != .light { trivialAugment = true }
        if preset == .strong { randomErasing = 0.25 }
    }

    /// Whether any op is on.
    public var isEmpty: Bool {
        !cropAndFlip && rotation == nil && colorJitter == nil && !trivialAugment && randomErasing == nil
    }

    /// Checks every parameter against torchvision's bounds.
    /// - Throws: `DataError.invalidArgument` naming the op and the value at fault.
    public func validate() throws {
        if let rotation, !(rotation >= 0 && rotation.isFinite) {
            throw DataError.invalidArgument("rotation: degrees must be a finite number >= 0, got \(rotation)")
        }
        try colorJitter?.validate()
        if let p = randomErasing, !(0...1).contains(p) {
            throw DataError.invalidArgument("random erasing: probability must be in [0, 1], got \(p)")
        }
    }

    /// One line for logs, catalogs and model cards, e.g.
    /// `standard: crop+flip, trivial-augment-wide`.
    public var description: String {
        var parts: [String] = []
        if cropAndFlip { parts.append("crop+flip") }
        if let rotation { parts.append("rotate \(Self.format(rotation))°") }
        if let j = colorJitter {
            parts.append(
                "color-jitter \([j.brightness, j.contrast, j.saturation, j.hue].map(Self.format).joined(separator: ","))"
            )
        }
        if trivialAugment { parts.append("trivial-augment-wide") }
        if let p = randomErasing { parts.append("random-erase \(Self.format(p))") }
        let body = parts.isEmpty ? "none" : parts.joined(separator: ", ")
        return preset.map { "\($0.rawValue): \(body)" } ?? body
    }

    private static func format(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e9 ? String(Int(v)) : String(v)
    }

    /// The random ops that follow a deterministic resize to `size` (`crop` replaces the final
    /// resize or centre crop when `cropAndFlip` is on; see `DataSpecification.trainingOps`).
    func randomOps() -> [ImageOp] {
        var ops: [ImageOp] = []
        if let rotation { ops.append(.rotation(degrees: rotation, bilinear: false)) }
        if let j = colorJitter {
            ops.append(
                .colorJitter(brightness: j.brightness, contrast: j.contrast, saturation: j.saturation, hue: j.hue))
        }
        if trivialAugment { ops.append(.trivialAugmentWide(bins: TrivialAugmentWide.defaultBins, bilinear: false)) }
        if let p = randomErasing { ops.append(.randomErasing(RandomErasing(probability: p))) }
        return ops
    }
}

/// `ColorJitter(brightness, contrast, saturation, hue)`: factors uniform in
/// `[max(0, 1 − v), 1 + v]` (hue in `[−h, h]`), applied in a random order; 0 turns one off.
public struct ColorJitter: Codable, Sendable, Equatable {
    /// Brightness factor drawn from `[max(0, 1 − brightness), 1 + brightness]`.
    public var brightness: Double
    /// Contrast factor drawn from `[max(0, 1 − contrast), 1 + contrast]`.
    public var contrast: Double
    /// Saturation factor drawn from `[max(0, 1 − saturation), 1 + saturation]`.
    public var saturation: Double
    /// Hue shift drawn from `[−hue, hue]` (a fraction of the hue circle, at most 0.5).
    public var hue: Double

    /// Each amount in torchvision's single-number form (0 turns that adjustment off).
    public init(brightness: Double = 0, contrast: Double = 0, saturation: Double = 0, hue: Double = 0) {
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation
        self.hue = hue
    }

    /// torchvision's `_check_input`: amounts >= 0, hue at most 0.5.
    /// - Throws: `DataError.invalidArgument` naming the amount at fault.
    public func validate() throws {
        for (name, v) in [("brightness", brightness), ("contrast", contrast), ("saturation", saturation)]
        where !(v >= 0 && v.isFinite) {
            throw DataError.invalidArgument("color jitter: \(name) must be a finite number >= 0, got \(v)")
        }
        guard (0...0.5).contains(hue) else {
            throw DataError.invalidArgument("color jitter: hue must be in [0, 0.5], got \(hue)")
        }
    }

    /// The range each factor is drawn from (`ColorJitter._check_input`); nil when the op is off.
    static func range(_ v: Double, isHue: Bool = false) -> ClosedRange<Double>? {
        guard v > 0 else { return nil }
        return isHue ? -v...v : max(0, 1 - v)...(1 + v)
    }

    /// `ColorJitter.forward`: a random order of the four adjustments (`randperm(4)`), then the
    /// factors drawn in the order brightness, contrast, saturation, hue, each applied in turn.
    func apply(_ image: RGB8Image, rng: inout RandomGenerator) -> RGB8Image {
        var order = [0, 1, 2, 3]
        rng.shuffle(&order)
        func draw(_ r: ClosedRange<Double>?) -> Double? {
            r.map { Double(Float(rng.uniform($0.lowerBound, $0.upperBound))) }
        }
        let b = draw(Self.range(brightness)), c = draw(Self.range(contrast))
        let s = draw(Self.range(saturation)), h = draw(Self.range(hue, isHue: true))
        var out = image
        for op in order {
            switch op {
            case 0: if let b { out = out.adjustedBrightness(Float(b)) }
            case 1: if let c { out = out.adjustedContrast(Float(c)) }
            case 2: if let s { out = out.adjustedSaturation(Float(s)) }
            default: if let h { out = out.adjustedHue(h) }
            }
        }
        return out
    }
}

/// `RandomErasing(p, scale, ratio, value)` on the normalised `[3, H, W]` tensor: with
/// probability `p`, a rectangle of area fraction uniform in `scale` and log-uniform aspect ratio
/// (height / width) in `ratio` is set to `value` (one value, or one per channel; nil draws
/// standard normal values, torchvision's `value="random"`). After 10 rectangles that do not fit,
/// nothing is erased.
public struct RandomErasing: Codable, Sendable, Equatable {
    /// The probability that an image gets a rectangle erased (`p`).
    public var probability: Double
    /// The smallest area fraction of the rectangle (`scale[0]`).
    public var minScale: Double = 0.02
    /// The largest area fraction of the rectangle (`scale[1]`).
    public var maxScale: Double = 0.33
    /// The smallest aspect ratio, height / width (`ratio[0]`).
    public var minRatio: Double = 0.3
    /// The largest aspect ratio (`ratio[1]`).
    public var maxRatio: Double = 3.3
    /// The erased value in normalised units, one or one per channel; nil draws normal values.
    public var value: [Float]? = [0]

    /// torchvision's defaults besides `probability`.
    public init(probability: Double) { self.probability = probability }

    /// - Throws: `DataError.invalidArgument` for a probability or scale outside [0, 1], ranges
    ///   out of order, or a value that is not 1 or 3 numbers.
    func validate() throws {
        guard (0...1).contains(probability) else {
            throw DataError.invalidArgument("random erasing: probability must be in [0, 1], got \(probability)")
        }
        guard minScale >= 0, maxScale <= 1, minScale <= maxScale, minRatio > 0, minRatio <= maxRatio else {
            throw DataError.invalidArgument(
                "random erasing: need 0 <= scale \(minScale)...\(maxScale) <= 1 and 0 < ratio \(minRatio)...\(maxRatio)"
            )
        }
        if let value, value.count != 1 && value.count != 3 {
            throw DataError.invalidArgument("random erasing: value needs 1 or 3 numbers, got \(value.count)")
        }
    }

    /// `RandomErasing.get_params`: the rectangle `(top, left, height, width)`, or nil.
    static func box(
        width: Int, height: Int, scale: (Double, Double), ratio: (Double, Double), rng: inout RandomGenerator
    ) -> (top: Int, left: Int, height: Int, width: Int)? {
        let area = Double(width * height)
        let logRatio = (log(ratio.0), log(ratio.1))
        for _ in 0..<10 {
            let eraseArea = area * rng.uniform(scale.0, scale.1)
            let aspect = exp(rng.uniform(logRatio.0, logRatio.1))
            let h = Int((eraseArea * aspect).squareRoot().rounded(.toNearestOrEven))
            let w = Int((eraseArea / aspect).squareRoot().rounded(.toNearestOrEven))
            guard h < height && w < width else { continue }
            let top = rng.integer(below: height - h + 1)
            let left = rng.integer(below: width - w + 1)
            return (top, left, h, w)
        }
        return nil
    }

    /// Erases in place in the `[3, height, width]` tensor at `planes`, drawing from `rng`.
    func apply(to planes: UnsafeMutablePointer<Float>, width: Int, height: Int, rng: inout RandomGenerator) {
        guard rng.nextDouble() < probability,
            let b = Self.box(
                width: width, height: height, scale: (minScale, maxScale), ratio: (minRatio, maxRatio), rng: &rng)
        else { return }
        Self.erase(planes, width: width, height: height, box: b, value: value, rng: &rng)
    }

    /// `F.erase(img, i, j, h, w, v)`: the box set to `value` per channel (nil: standard normal
    /// values, drawn channel by channel, row by row).
    static func erase(
        _ planes: UnsafeMutablePointer<Float>, width: Int, height: Int,
        box b: (top: Int, left: Int, height: Int, width: Int), value: [Float]?, rng: inout RandomGenerator
    ) {
        for c in 0..<3 {
            let plane = planes + c * width * height
            for y in b.top..<(b.top + b.height) {
                for x in b.left..<(b.left + b.width) {
                    plane[y * width + x] = value.map { $0.count == 1 ? $0[0] : $0[c] } ?? Float(rng.nextNormal())
                }
            }
        }
    }
}

/// torchvision's `TrivialAugmentWide`: one op drawn uniformly from 14, a magnitude drawn uniformly
/// from its bins, and for signed ops a sign drawn with probability 1/2 (Müller & Hutter 2021).
public enum TrivialAugmentWide {
    /// torchvision's default `num_magnitude_bins`.
    public static let defaultBins = 31

    /// The ops in torchvision's `_augmentation_space` order.
    public enum Op: String, CaseIterable, Codable, Sendable {
        /// The image unchanged.
        case identity = "Identity"
        /// `F.affine` with shear `atan(m)` in degrees along x, about the corner (0, 0).
        case shearX = "ShearX"
        /// The same along y.
        case shearY = "ShearY"
        /// `F.affine` translating by `int(m)` pixels along x.
        case translateX = "TranslateX"
        /// The same along y.
        case translateY = "TranslateY"
        /// `F.rotate` by `m` degrees.
        case rotate = "Rotate"
        /// `F.adjust_brightness(1 + m)`.
        case brightness = "Brightness"
        /// `F.adjust_saturation(1 + m)`.
        case color = "Color"
        /// `F.adjust_contrast(1 + m)`.
        case contrast = "Contrast"
        /// `F.adjust_sharpness(1 + m)`.
        case sharpness = "Sharpness"
        /// `F.posterize(int(m))` bits.
        case posterize = "Posterize"
        /// `F.solarize` above threshold `m`.
        case solarize = "Solarize"
        /// `F.autocontrast`.
        case autoContrast = "AutoContrast"
        /// `F.equalize`.
        case equalize = "Equalize"

        /// Whether a drawn magnitude is negated half the time.
        public var isSigned: Bool {
            switch self {
            case .shearX, .shearY, .translateX, .translateY, .rotate, .brightness, .color, .contrast, .sharpness:
                true
            default: false
            }
        }

        /// The magnitudes of `bins` bins (torchvision's float32 `linspace` values, empty for ops
        /// without one).
        public func magnitudes(bins: Int) -> [Double] {
            switch self {
            case .identity, .autoContrast, .equalize: []
            case .shearX, .shearY, .brightness, .color, .contrast, .sharpness: Self.linspace(0, 0.99, bins)
            case .translateX, .translateY: Self.linspace(0, 32, bins)
            case .rotate: Self.linspace(0, 135, bins)
            case .solarize: Self.linspace(255, 0, bins)
            case .posterize:
                // 8 - round(arange(bins) / ((bins - 1) / 6)) in float32, half to even.
                (0..<bins).map { i in
                    let x = Float(i) / Float(Double(bins - 1) / 6)
                    return Double(8 - Int(x.rounded(.toNearestOrEven)))
                }
            }
        }

        /// `torch.linspace(start, end, steps)` in float32 on the CPU: a float step, the first half
        /// counted up from `start` and the rest down from `end`, each a fused multiply-add.
        static func linspace(_ start: Float, _ end: Float, _ steps: Int) -> [Double] {
            guard steps > 1 else { return steps == 1 ? [Double(start)] : [] }
            let step = (end - start) / Float(steps - 1)
            return (0..<steps).map { i in
                Double(
                    i < steps / 2
                        ? start.addingProduct(step, Float(i)) : end.addingProduct(-step, Float(steps - i - 1)))
            }
        }

        /// `autoaugment._apply_op(img, op, magnitude, interpolation, fill=None)` on a PIL image.
        public func apply(_ image: RGB8Image, magnitude: Double, bilinear: Bool = false) -> RGB8Image {
            switch self {
            case .identity: return image
            case .shearX, .shearY:
                let degrees = atan(magnitude) * (180 / Double.pi)
                return image.affine(
                    angle: 0, translate: (0, 0), scale: 1, shear: self == .shearX ? (degrees, 0) : (0, degrees),
                    center: (0, 0), bilinear: bilinear)
            case .translateX, .translateY:
                let t = Int(magnitude)
                return image.affine(
                    angle: 0, translate: self == .translateX ? (t, 0) : (0, t), scale: 1, shear: (0, 0),
                    bilinear: bilinear)
            case .rotate: return image.rotated(degrees: magnitude, bilinear: bilinear)
            case .brightness: return image.adjustedBrightness(Float(1 + magnitude))
            case .color: return image.adjustedSaturation(Float(1 + magnitude))
            case .contrast: return image.adjustedContrast(Float(1 + magnitude))
            case .sharpness: return image.adjustedSharpness(Float(1 + magnitude))
            case .posterize: return image.posterized(bits: Int(magnitude))
            case .solarize: return image.solarized(threshold: magnitude)
            case .autoContrast: return image.autocontrasted()
            case .equalize: return image.equalized()
            }
        }
    }

    /// `TrivialAugmentWide.forward`: draws the op, its bin and its sign from `rng`.
    static func draw(bins: Int, rng: inout RandomGenerator) -> (op: Op, magnitude: Double) {
        let op = Op.allCases[rng.integer(below: Op.allCases.count)]
        let table = op.magnitudes(bins: bins)
        var magnitude = table.isEmpty ? 0 : table[rng.integer(below: table.count)]
        if op.isSigned && rng.integer(below: 2) == 1 { magnitude = -magnitude }
        return (op, magnitude)
    }
}
