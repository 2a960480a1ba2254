import Foundation
@testable import GraftData
import GraftTensor
import Testing
import TestSupport

/// One case of `Tests/Fixtures/augment/cases.json` (written by `scripts/augment-fixtures.py`
/// with torchvision's functional ops on PIL images).
private struct AugmentCase: Decodable {
    var image: String
    var op: String
    var params: [String: Param]
    var file: String

    enum Param: Decodable {
        case number(Double), flag(Bool), text(String), list([Double])
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let b = try? c.decode(Bool.self) {
                self = .flag(b)
            } else if let d = try? c.decode(Double.self) {
                self = .number(d)
            } else if let l = try? c.decode([Double].self) {
                self = .list(l)
            } else {
                self = .text(try c.decode(String.self))
            }
        }
    }

    func number(_ key: String) throws -> Double {
        guard case .number(let v) = params[key] else { throw DataError.invalidArgument("\(file): no number \(key)") }
        return v
    }
    func flag(_ key: String) throws -> Bool {
        guard case .flag(let v) = params[key] else { throw DataError.invalidArgument("\(file): no flag \(key)") }
        return v
    }
    func text(_ key: String) throws -> String {
        guard case .text(let v) = params[key] else { throw DataError.invalidArgument("\(file): no text \(key)") }
        return v
    }
    func list(_ key: String) throws -> [Double] {
        guard case .list(let v) = params[key] else { throw DataError.invalidArgument("\(file): no list \(key)") }
        return v
    }

    static func all() throws -> [AugmentCase] {
        try JSONDecoder().decode(
            [AugmentCase].self, from: Data(contentsOf: Fixtures.committed("augment/cases.json")))
    }
}

private func committedImage(_ relative: String) throws -> RGB8Image {
    guard case .uint8(let shape, let values) = try NPY.read(Fixtures.committed(relative)) else {
        throw DataError.invalidArgument("\(relative): expected a uint8 array")
    }
    return RGB8Image(width: shape[1], height: shape[0], pixels: values)
}

@Suite("Augmentation")
struct AugmentationTests {
    /// Graft's op for a fixture case, on its input image.
    private static func graftOutput(_ c: AugmentCase, _ input: RGB8Image) throws -> RGB8Image {
        switch c.op {
        case "brightness": return input.adjustedBrightness(Float(try c.number("factor")))
        case "contrast": return input.adjustedContrast(Float(try c.number("factor")))
        case "saturation": return input.adjustedSaturation(Float(try c.number("factor")))
        case "hue": return input.adjustedHue(try c.number("factor"))
        case "sharpness": return input.adjustedSharpness(Float(try c.number("factor")))
        case "rotate": return input.rotated(degrees: try c.number("degrees"), bilinear: try c.flag("bilinear"))
        case "posterize": return input.posterized(bits: Int(try c.number("bits")))
        case "solarize": return input.solarized(threshold: try c.number("threshold"))
        case "autocontrast": return input.autocontrasted()
        case "equalize": return input.equalized()
        case "trivial":
            let op = try #require(TrivialAugmentWide.Op(rawValue: try c.text("name")))
            let table = op.magnitudes(bins: TrivialAugmentWide.defaultBins)
            var magnitude = table.isEmpty ? 0 : table[Int(try c.number("bin"))]
            let negative = try c.flag("negative"), recorded = try c.number("magnitude")
            if op.isSigned && negative { magnitude = -magnitude }
            // The magnitude Graft derives from (op, bin, sign) is torchvision's.
            #expect(magnitude == recorded, "\(c.file)")
            return op.apply(input, magnitude: magnitude)
        default: throw DataError.invalidArgument("\(c.file): unknown op \(c.op)")
        }
    }

    @Test("each op with fixed parameters gives torchvision's pixels on the fixture photos")
    func fixtureAgreement() throws {
        var worst: [String: Int] = [:]
        var checked = 0
        for c in try AugmentCase.all() where c.op != "erase" {
            let input = try committedImage("augment/\(c.image).rgb.npy")
            let expected = try committedImage("augment/\(c.file)")
            let out = try Self.graftOutput(c, input)
            #expect(out.width == expected.width && out.height == expected.height, "\(c.file)")
            guard out.pixels.count == expected.pixels.count else { continue }
            let (maxDiff, mean) = byteDifference(out, expected)
            let key = c.op == "trivial" ? "trivial " + (try c.text("name")) : c.op
            worst[key] = max(worst[key] ?? 0, maxDiff)
            // Pillow's integer and float steps are reproduced, so the bytes are the same.
            #expect(maxDiff == 0, "\(c.file): max |Δ| \(maxDiff), mean \(mean)")
            checked += 1
        }
        #expect(checked >= 80)
        print("augment fixtures, max |Δ| per op:", worst.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" })
    }

    @Test("random erasing's F.erase matches torchvision on the normalised tensor")
    func eraseAgreement() throws {
        var checked = 0
        for c in try AugmentCase.all() where c.op == "erase" {
            let input = try committedImage("augment/\(c.image).rgb.npy")
            let expected = try NPY.float(Fixtures.committed("augment/\(c.file)"))
            let pipeline = try TransformPipeline(ops: [])
            var rng = RandomGenerator(seed: 0)
            var t = pipeline(input, rng: &rng)
            RandomErasing.erase(
                t.mutablePointer(), width: input.width, height: input.height,
                box: (
                    Int(try c.number("top")), Int(try c.number("left")), Int(try c.number("height")),
                    Int(try c.number("width"))
                ), value: try c.list("value").map(Float.init), rng: &rng)
            #expect(t.shape == expected.shape)
            var maxDiff: Float = 0
            for i in 0..<t.count { maxDiff = max(maxDiff, abs(t.pointer[i] - expected.pointer[i])) }
            #expect(maxDiff == 0, "\(c.file): max |Δ| \(maxDiff)")
            checked += 1
        }
        #expect(checked == 4)
    }

    @Test("TrivialAugmentWide's ops, order, signs and magnitude tables are torchvision's")
    func trivialAugmentSpace() throws {
        struct Table: Decodable {
            var ops: [String]
            var magnitudes: [String: [Double]]
            var signed: [String]
        }
        let table = try JSONDecoder().decode(
            Table.self, from: Data(contentsOf: Fixtures.committed("augment/magnitudes.json")))
        #expect(TrivialAugmentWide.Op.allCases.map(\.rawValue) == table.ops)
        #expect(TrivialAugmentWide.Op.allCases.filter(\.isSigned).map(\.rawValue) == table.signed)
        for op in TrivialAugmentWide.Op.allCases {
            #expect(op.magnitudes(bins: 31) == table.magnitudes[op.rawValue], "\(op)")
        }
    }

    @Test("TrivialAugmentWide draws ops and bins uniformly and signs with probability 1/2")
    func trivialAugmentDistribution() throws {
        var rng = RandomGenerator(seed: 11)
        let n = 28_000
        var opCounts: [TrivialAugmentWide.Op: Int] = [:]
        var negative = 0, signed = 0
        var rotateBins = [Int](repeating: 0, count: 31)
        let rotateTable = TrivialAugmentWide.Op.rotate.magnitudes(bins: 31)
        for _ in 0..<n {
            let (op, magnitude) = TrivialAugmentWide.draw(bins: 31, rng: &rng)
            opCounts[op, default: 0] += 1
            if op.isSigned && magnitude != 0 {
                signed += 1
                if magnitude < 0 { negative += 1 }
            }
            if op == .rotate, let b = rotateTable.firstIndex(of: abs(magnitude)) { rotateBins[b] += 1 }
        }
        // Chi-square with 13 degrees of freedom: 99.9% quantile 34.5.
        let expected = Double(n) / 14
        let chi = TrivialAugmentWide.Op.allCases.reduce(0.0) {
            $0 + pow(Double(opCounts[$1] ?? 0) - expected, 2) / expected
        }
        #expect(chi < 34.5, "op counts \(opCounts)")
        let fraction = Double(negative) / Double(signed)
        #expect(abs(fraction - 0.5) < 0.02, "negative fraction \(fraction)")
        // Every bin of a magnitude table is reachable.
        #expect(rotateBins.allSatisfy { $0 > 0 }, "\(rotateBins)")
    }

    @Test("RandomRotation and ColorJitter draw torchvision's ranges: uniform angles and factors")
    func parameterDistributions() throws {
        // RandomRotation(30): the angles' moments are those of U(-30, 30) (variance 300).
        var rng = RandomGenerator(seed: 5)
        let n = 20_000
        var sum = 0.0, sumSquares = 0.0, low = Double.infinity, high = -Double.infinity
        for _ in 0..<n {
            let v = ImageOp.rotationAngle(degrees: 30, rng: &rng)
            sum += v
            sumSquares += v * v
            low = min(low, v)
            high = max(high, v)
        }
        let mean = sum / Double(n), variance = sumSquares / Double(n) - mean * mean
        #expect(abs(mean) < 0.5 && abs(variance - 300) < 10 && low >= -30 && high < 30)
        // ColorJitter's ranges follow torchvision's `_check_input`.
        #expect(ColorJitterRanges.brightness(0.4) == 0.6...1.4)
        #expect(ColorJitterRanges.brightness(1.5) == 0...2.5)
        #expect(ColorJitterRanges.hue(0.1) == -0.1...0.1)
        #expect(ColorJitterRanges.brightness(0) == nil)
    }

    @Test("RandomRotation rotates by the angle it draws")
    func rotationByConstruction() throws {
        let image = try committedImage("augment/china.rgb.npy")
        for seed in UInt64(0)..<10 {
            var rng = RandomGenerator(seed: seed), replay = RandomGenerator(seed: seed)
            let out = ImageOp.rotation(degrees: 45, bilinear: false).apply(image, rng: &rng)
            let angle = ImageOp.rotationAngle(degrees: 45, rng: &replay)
            #expect(abs(angle) <= 45 && out == image.rotated(degrees: angle, bilinear: false), "seed \(seed)")
        }
    }

    @Test("colour jitter with one amount set matches the functional op at the drawn factor")
    func colorJitterByConstruction() throws {
        let image = try committedImage("augment/flower.rgb.npy")
        for seed in UInt64(0)..<20 {
            var rng = RandomGenerator(seed: seed)
            let out = ImageOp.colorJitter(brightness: 0, contrast: 0, saturation: 0, hue: 0.3).apply(image, rng: &rng)
            // Replay the draws: the order permutation, then the hue factor.
            var replay = RandomGenerator(seed: seed)
            var order = [0, 1, 2, 3]
            replay.shuffle(&order)
            let factor = Double(Float(replay.uniform(-0.3, 0.3)))
            #expect(abs(factor) <= 0.3)
            #expect(out == image.adjustedHue(factor), "seed \(seed)")
        }
    }

    @Test("random erasing: probability p, boxes inside the image with torchvision's scale and ratio")
    func erasingDistribution() throws {
        let e = RandomErasing(probability: 0.3)
        var rng = RandomGenerator(seed: 9)
        let (w, h) = (40, 30)
        var erased = 0
        let n = 4000
        for _ in 0..<n {
            var planes = [Float](repeating: 1, count: 3 * w * h)
            planes.withUnsafeMutableBufferPointer { e.apply(to: $0.baseAddress!, width: w, height: h, rng: &rng) }
            let zeros = planes.filter { $0 == 0 }.count
            if zeros > 0 {
                erased += 1
                let area = Double(zeros / 3) / Double(w * h)
                // Rounding the sides moves the area a little around [0.02, 0.33].
                #expect(area > 0.005 && area < 0.45, "area \(area)")
            }
        }
        let fraction = Double(erased) / Double(n)
        #expect(abs(fraction - 0.3) < 0.03, "erased fraction \(fraction)")
        // Box geometry: h = round(sqrt(area · ratio)), w = round(sqrt(area / ratio)), strictly smaller.
        var boxes = RandomGenerator(seed: 3)
        for _ in 0..<2000 {
            if let b = RandomErasing.box(width: w, height: h, scale: (0.02, 0.33), ratio: (0.3, 3.3), rng: &boxes) {
                #expect(b.height < h && b.width < w && b.top + b.height <= h && b.left + b.width <= w)
                let ratio = Double(b.height) / Double(b.width)
                #expect(ratio > 0.3 / 2 && ratio < 3.3 * 2)
            }
        }
    }

    @Test("a pipeline with every op is a function of its seed; each random op turns caching off")
    func determinismAndCaching() throws {
        let image = try committedImage("augment/flower.rgb.npy")
        let all: [ImageOp] = [
            .randomResizedCrop(size: 40), .horizontalFlip(probability: 0.5), .rotation(degrees: 20, bilinear: false),
            .colorJitter(brightness: 0.3, contrast: 0.3, saturation: 0.3, hue: 0.1),
            .trivialAugmentWide(bins: 31, bilinear: false), .randomErasing(RandomErasing(probability: 1)),
        ]
        let pipeline = try TransformPipeline(ops: all)
        var a = RandomGenerator(seed: 4), b = RandomGenerator(seed: 4), c = RandomGenerator(seed: 5)
        let ta = pipeline(image, rng: &a), tb = pipeline(image, rng: &b), tc = pipeline(image, rng: &c)
        #expect(ta.isBitwiseEqual(to: tb) && !ta.isBitwiseEqual(to: tc))
        for op in all.dropFirst(2) {
            let p = try TransformPipeline(ops: [.centerCrop(size: 32), op])
            #expect(p.deterministicPrefixCount == 1, "\(op)")
            let loader = try BatchLoader(
                dataset: MemoryDataset.gradient(count: 4, classes: 2), transform: p,
                options: .init(batchSize: 2, workers: 1))
            #expect(!loader.samplesAreDeterministic, "\(op)")
        }
        // Erasing works on the tensor: it must come last.
        #expect(throws: DataError.self) {
            try TransformPipeline(ops: [.randomErasing(RandomErasing(probability: 0.5)), .centerCrop(size: 8)])
        }
        #expect(throws: DataError.self) {
            try TransformPipeline(ops: [.colorJitter(brightness: 0, contrast: 0, saturation: 0, hue: 0.7)])
        }
    }

    @Test("a loader's augmented batch is the same when rebuilt: resume sees the same images")
    func loaderDeterminism() throws {
        let pipeline = try TransformPipeline(
            ops: [
                .centerCrop(size: 32), .trivialAugmentWide(bins: 31, bilinear: false),
                .randomErasing(RandomErasing(probability: 0.5)),
            ])
        func loader() throws -> BatchLoader {
            try BatchLoader(
                dataset: MemoryDataset.gradient(count: 12, classes: 3), transform: pipeline,
                options: .init(batchSize: 4, shuffle: true, seed: 7, workers: 1))
        }
        let first = try loader().makeBatch(epoch: 2, index: 1)
        let again = try loader().makeBatch(epoch: 2, index: 1)
        #expect(first.images.isBitwiseEqual(to: again.images))
        let otherEpoch = try loader().makeBatch(epoch: 3, index: 1)
        #expect(!first.images.isBitwiseEqual(to: otherEpoch.images))
    }

    @Test("presets, the legacy augment flag and Codable configurations")
    func presetsAndCoding() throws {
        #expect(Augmentation(preset: .light).description == "light: crop+flip")
        #expect(Augmentation(preset: .standard).trivialAugment && Augmentation(preset: .standard).randomErasing == nil)
        #expect(Augmentation(preset: .strong).randomErasing == 0.25)
        // A configuration written before `augmentation` existed still decodes, and `augment`
        // still means crop + flip.
        var legacy = DataSpecification(source: DataSpecification.fashionMNIST, imageSize: 28)
        legacy.augment = true
        let old = try JSONEncoder().encode(legacy)
        #expect(!String(decoding: old, as: UTF8.self).contains("augmentation"))
        var spec = try JSONDecoder().decode(DataSpecification.self, from: old)
        #expect(spec.augmentation == nil && spec.effectiveAugmentation == Augmentation(preset: .light))
        var custom = Augmentation(preset: .standard)
        custom.colorJitter = ColorJitter(brightness: 0.2, contrast: 0.2, saturation: 0.2, hue: 0.05)
        custom.rotation = 10
        spec.setAugmentation(custom)
        let decoded = try JSONDecoder().decode(DataSpecification.self, from: JSONEncoder().encode(spec))
        #expect(decoded == spec && decoded.effectiveAugmentation == custom && decoded.augment)
        #expect(
            custom.description
                == "standard: crop+flip, rotate 10°, color-jitter 0.2,0.2,0.2,0.05, trivial-augment-wide")
        #expect(throws: DataError.self) {
            var bad = Augmentation()
            bad.randomErasing = 1.5
            try bad.validate()
        }
    }
}

/// torchvision's `ColorJitter._check_input` ranges, as Graft computes them.
private enum ColorJitterRanges {
    static func brightness(_ v: Double) -> ClosedRange<Double>? { ColorJitter.range(v) }
    static func hue(_ v: Double) -> ClosedRange<Double>? { ColorJitter.range(v, isHue: true) }
}
