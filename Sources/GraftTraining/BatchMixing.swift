import Foundation
import GraftModels
import GraftTensor

/// mixup and CutMix of whole training batches, as `torchvision.transforms.v2.MixUp` and `CutMix`
/// do after a batch is formed.
///
/// Each image is mixed with the one before it in the batch (`roll(1, 0)`: the first with the
/// last), and the labels become soft targets: one-hot, then mixed with the same weight. mixup
/// blends whole images with a weight `lam ~ Beta(α, α)`; CutMix pastes a box of the rolled batch,
/// its size drawn from `lam`, and weighs the labels by the area actually pasted. With both alphas
/// set, each batch uses one of the two, picked with even odds, as torchvision's reference script
/// does (`RandomChoice([MixUp, CutMix])`).
///
/// The draws of a step depend on the run's seed and the global step alone, so a resumed run mixes
/// its batches exactly as an uninterrupted one.
public struct BatchMixing: Sendable, Equatable {
    /// α of mixup's `Beta(α, α)`; nil: no mixup.
    public var mixupAlpha: Double?
    /// α of CutMix's `Beta(α, α)`; nil: no CutMix.
    public var cutmixAlpha: Double?
    /// The run's seed: with the global step, it fixes each batch's draws.
    public var seed: UInt64

    /// - Precondition: at least one alpha is given, each finite and positive.
    public init(mixupAlpha: Double?, cutmixAlpha: Double?, seed: UInt64) {
        precondition(mixupAlpha != nil || cutmixAlpha != nil, "batch mixing needs mixup or CutMix")
        for alpha in [mixupAlpha, cutmixAlpha].compactMap({ $0 }) {
            precondition(alpha.isFinite && alpha > 0, "mixing alpha \(alpha) must be positive")
        }
        self.mixupAlpha = mixupAlpha
        self.cutmixAlpha = cutmixAlpha
        self.seed = seed
    }

    /// What step `step` does to its batch of `height`×`width` images: a generator derived from the
    /// seed and the step picks mixup or CutMix (when both are on), then draws `lam` and, for
    /// CutMix, the box centre.
    public func draw(step: Int, height: Int, width: Int) -> MixDraw {
        var rng = RandomGenerator(seed: seed ^ 0x6D69_7875_705F_6375).derived(UInt64(step))
        let useMixup: Bool
        switch (mixupAlpha, cutmixAlpha) {
        case (.some, .some): useMixup = rng.nextDouble() < 0.5
        case (.some, nil): useMixup = true
        default: useMixup = false
        }
        if useMixup { return .mixup(lam: Self.beta(mixupAlpha!, using: &rng)) }
        let lam = Self.beta(cutmixAlpha!, using: &rng)
        // torch.randint(W), torch.randint(H): the box centre, uniform over the pixels.
        let x = min(width - 1, Int(rng.nextDouble() * Double(width)))
        let y = min(height - 1, Int(rng.nextDouble() * Double(height)))
        return .cutmix(lam: lam, centreX: x, centreY: y, height: height, width: width)
    }

    /// A `Beta(α, α)` sample, as `X / (X + Y)` of two `Gamma(α, 1)` samples, in logarithms so that
    /// a small α (mixup's usual 0.2) never gives 0/0.
    static func beta(_ alpha: Double, using rng: inout RandomGenerator) -> Double {
        let x = logGamma(alpha, using: &rng), y = logGamma(alpha, using: &rng)
        return 1 / (1 + exp(y - x))
    }

    /// The logarithm of a `Gamma(shape, 1)` sample: Marsaglia and Tsang's method, with
    /// `Gamma(a) = Gamma(a + 1)·U^(1/a)` below shape 1.
    static func logGamma(_ shape: Double, using rng: inout RandomGenerator) -> Double {
        if shape < 1 {
            var u = rng.nextDouble()
            while u <= 0 { u = rng.nextDouble() }
            return logGamma(shape + 1, using: &rng) + log(u) / shape
        }
        let d = shape - 1.0 / 3, c = 1 / (9 * d).squareRoot()
        while true {
            let x = rng.nextNormal()
            var v = 1 + c * x
            guard v > 0 else { continue }
            v = v * v * v
            let u = rng.nextDouble()
            if u > 0, log(u) < 0.5 * x * x + d - d * v + d * log(v) {
                return log(d * v)
            }
        }
    }
}

/// A pixel box `[x1, x2) × [y1, y2)` of an image (CutMix's pasted area).
public struct PixelBox: Sendable, Equatable {
    /// First column.
    public var x1: Int
    /// First row.
    public var y1: Int
    /// One past the last column.
    public var x2: Int
    /// One past the last row.
    public var y2: Int

    /// A box from its corners, `x2` and `y2` excluded.
    public init(x1: Int, y1: Int, x2: Int, y2: Int) {
        self.x1 = x1
        self.y1 = y1
        self.x2 = x2
        self.y2 = y2
    }
}

/// One batch's mixing: what `BatchMixing.draw` decided for a step.
public enum MixDraw: Sendable, Equatable {
    /// mixup with weight `lam` on each image (and `1 − lam` on the one before it).
    case mixup(lam: Double)
    /// CutMix: `box` of the image before is pasted; `lam` is the share of the image left, the
    /// weight of its own label.
    case cutmix(box: PixelBox, lam: Double)

    /// CutMix's box as `torchvision.transforms.v2.CutMix.make_params` makes it from its draws:
    /// half-sides `int(0.5·√(1 − lam)·W)` and `int(0.5·√(1 − lam)·H)` around the centre, clipped
    /// to the image, and `lam` corrected to the area pasted.
    public static func cutmix(lam: Double, centreX: Int, centreY: Int, height: Int, width: Int) -> MixDraw {
        let r = 0.5 * (1 - lam).squareRoot()
        let halfWidth = Int(r * Double(width)), halfHeight = Int(r * Double(height))
        let box = PixelBox(
            x1: max(centreX - halfWidth, 0), y1: max(centreY - halfHeight, 0),
            x2: min(centreX + halfWidth, width), y2: min(centreY + halfHeight, height))
        let area = Double((box.x2 - box.x1) * (box.y2 - box.y1)) / Double(width * height)
        return .cutmix(box: box, lam: 1 - area)
    }

    /// The weight of each image's own label (mixup's `lam`, CutMix's corrected one).
    public var labelWeight: Double {
        switch self {
        case .mixup(let lam), .cutmix(_, let lam): lam
        }
    }

    /// The mixed batch of `[N, C, H, W]` images: for mixup `roll(x)·(1 − lam) + x·lam` in float32,
    /// rounded as torchvision's `roll(1, 0).mul_(1 − lam).add_(x.mul(lam))` is; for CutMix a copy
    /// with the box taken from the image before.
    public func apply(to images: Tensor) -> Tensor {
        precondition(images.rank == 4, "mixing needs [N, C, H, W] images, got \(images.shape)")
        let n = images.size(0), channels = images.size(1), height = images.size(2), width = images.size(3)
        let per = channels * height * width
        var out = Tensor(uninitializedShape: images.shape)
        let x = images.pointer, o = out.mutablePointer()
        switch self {
        case .mixup(let lam):
            let own = Float(lam), other = Float(1 - lam)
            for i in 0..<n {
                let source = x + i * per, before = x + ((i + n - 1) % n) * per, target = o + i * per
                for k in 0..<per {
                    let a = before[k] * other
                    let b = source[k] * own
                    target[k] = a + b
                }
            }
        case .cutmix(let box, _):
            o.update(from: x, count: n * per)
            guard box.x2 > box.x1, box.y2 > box.y1 else { return out }
            for i in 0..<n {
                let before = x + ((i + n - 1) % n) * per, target = o + i * per
                for c in 0..<channels {
                    for row in box.y1..<box.y2 {
                        let offset = (c * height + row) * width + box.x1
                        (target + offset).update(from: before + offset, count: box.x2 - box.x1)
                    }
                }
            }
        }
        return out
    }

    /// The soft targets `[N, classes]`: `onehot(roll(labels))·(1 − lam) + onehot(labels)·lam` in
    /// float32, as torchvision's `_mixup_label`.
    /// - Precondition: every label is in `0..<classes`.
    public func targets(labels: [Int], classes: Int) -> Tensor {
        let n = labels.count
        var out = Tensor(shape: [n, classes], repeating: 0)
        let t = out.mutablePointer()
        let own = Float(labelWeight), other = Float(1 - labelWeight)
        for i in 0..<n {
            let label = labels[i], before = labels[(i + n - 1) % n]
            precondition(label >= 0 && label < classes && before >= 0 && before < classes, "label out of range")
            t[i * classes + before] = other
            t[i * classes + label] += own
        }
        return out
    }
}

extension RunConfiguration {
    /// The batch mixing this configuration asks for (seeded by the run's seed), nil for none.
    public var batchMixing: BatchMixing? {
        guard mixupAlpha != nil || cutmixAlpha != nil else { return nil }
        return BatchMixing(mixupAlpha: mixupAlpha, cutmixAlpha: cutmixAlpha, seed: seed)
    }
}

extension RunConfiguration {
    /// Says that mixup or CutMix turns the frozen-trunk feature cache off, when the cache would
    /// otherwise apply (some block below the trainable ones, the cache not already off): a mixed
    /// input's trunk output is not the mix of the two images' outputs, so none can be stored.
    var batchMixingWarnings: [String] {
        guard let mixing = batchMixing, featureCacheMB != 0,
            let first = (try? Architecture(named: architecture))?.blockNames.first, !trainable.contains(first)
        else { return [] }
        let names = [mixing.mixupAlpha.map { _ in "mixup" }, mixing.cutmixAlpha.map { _ in "CutMix" }]
        return [
            "\(names.compactMap { $0 }.joined(separator: " and ")) mix the input images, so this run does not use the frozen-trunk feature cache: the trunk runs on every mixed batch"
        ]
    }
}
