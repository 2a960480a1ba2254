import Foundation
import GraftData
import GraftNN
import GraftTensor

/// Test-time augmentation: a model sees several views of each image, and its class probabilities
/// are the mean over the views.
///
/// The views are a set: `flip` (the image and its horizontal mirror, fastai's and torchvision's
/// flip TTA), `crops` (torchvision's `FiveCrop`, in its order: top-left, top-right, bottom-left,
/// bottom-right, centre) or both, `flip,crops`: torchvision's `TenCrop`, the five crops of the
/// image and the five of its mirror image (10 views). Where the crops come from
/// (`TransformPipeline.withCropViews(mirrored:)`): for photos evaluated as
/// Resize(R) → CenterCrop(S), the five S-crops of the image resized to R, in place of its centre
/// crop; for a plain resize to S×S (Fashion-MNIST), the five S-crops of the image resized to
/// `round(S / 0.875)` on each side, torchvision's 224-of-256 ratio. The model's input stays S×S.
public struct TestTimeAugmentation: Sendable, Hashable, Codable, RawRepresentable, CustomStringConvertible {
    /// One kind of view.
    public enum View: String, Sendable, CaseIterable, Codable {
        /// The horizontal mirror of each view.
        case flip
        /// The five crops instead of the centre crop.
        case crops
    }

    /// Adds the horizontal mirror of each view.
    public var flip: Bool
    /// Five crops instead of the centre crop.
    public var crops: Bool

    /// The image and its mirror (2 views).
    public static let flip = TestTimeAugmentation(flip: true, crops: false)
    /// The five crops (5 views).
    public static let crops = TestTimeAugmentation(flip: false, crops: true)
    /// The five crops and their mirrors, torchvision's `TenCrop` (10 views).
    public static let flipAndCrops = TestTimeAugmentation(flip: true, crops: true)

    /// The sets the parser accepts, by their canonical names.
    public static let allSets: [TestTimeAugmentation] = [.flip, .crops, .flipAndCrops]

    /// - Parameters:
    ///   - flip: add the horizontal mirror of each view.
    ///   - crops: five crops instead of the centre crop.
    /// - Precondition: at least one of them.
    public init(flip: Bool, crops: Bool) {
        precondition(flip || crops, "test-time augmentation needs at least one kind of view")
        self.flip = flip
        self.crops = crops
    }

    /// Parses a comma-separated set of view names (`flip`, `crops`, `flip,crops`, in any order).
    /// - Parameter text: the names, comma-separated; spaces around them and case are ignored.
    /// - Throws: `TrainingError.unknownTestTimeAugmentation` naming the word and the known ones.
    public init(parsing text: String) throws {
        var flip = false, crops = false
        let words = text.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        for word in words {
            switch View(rawValue: word) {
            case .flip: flip = true
            case .crops: crops = true
            case nil:
                throw TrainingError.unknownTestTimeAugmentation(word: word, known: View.allCases.map(\.rawValue))
            }
        }
        self.init(flip: flip, crops: crops)
    }

    /// Parses a set as `init(parsing:)` does; nil for an unknown name.
    /// - Parameter rawValue: `flip`, `crops` or `flip,crops` (in any order).
    public init?(rawValue: String) {
        guard let parsed = try? TestTimeAugmentation(parsing: rawValue) else { return nil }
        self = parsed
    }

    /// The canonical name, `description`.
    public var rawValue: String { description }

    /// The canonical name: `flip`, `crops` or `flip,crops`.
    public var description: String {
        [flip ? "flip" : nil, crops ? "crops" : nil].compactMap { $0 }.joined(separator: ",")
    }

    /// Views per image: 2, 5 or 10.
    public var viewCount: Int { (crops ? 5 : 1) * (flip ? 2 : 1) }

    public init(from decoder: any Decoder) throws {
        try self.init(parsing: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    /// The source whose batches hold this augmentation's images: `source` itself (mirrors are
    /// made from its batches), or its crop views, with `flip` the `TenCrop` ones.
    /// - Parameter source: the labelled images, with the evaluation transform.
    /// - Throws: `DataError.invalidArgument` when `source` cannot make crop views.
    public func views(of source: BatchSource) throws -> BatchSource {
        crops ? try source.cropViews(mirrored: flip) : source
    }

    /// Whether batches from `views(of:)` still need their images mirrored: only for `flip`
    /// alone, as crop views already hold the mirrored crops.
    public var mirrorsBatches: Bool { flip && !crops }

    /// The mean of `output` over the views of a batch: `images` holds `views` images per sample
    /// (`[N · views, C, H, W]`, sample-major), each of which is also mirrored with `flip`.
    /// `output` runs on one view of every sample at a time, so a forward pass holds N images,
    /// as without augmentation.
    /// - Parameters:
    ///   - images: the batch, `views` consecutive images per sample.
    ///   - views: images per sample in `images` (5 for crop views, else 1).
    ///   - flip: also average over the mirror of each view.
    ///   - output: the per-image output to average, `[N, K]` for `[N, C, H, W]` (softmax
    ///     probabilities, or logits).
    /// - Returns: `[N, K]`, the mean over the `views · (flip ? 2 : 1)` outputs, accumulated in
    ///   float64.
    public static func mean(
        _ images: Tensor, views: Int, flip: Bool, of output: (Tensor) -> Tensor
    ) -> Tensor {
        precondition(views >= 1 && images.size(0) % views == 0, "\(images.shape) is not \(views) views per sample")
        let n = images.size(0) / views, per = images.count / max(1, images.size(0))
        var sum: [Double] = []
        var classes = 0
        func accumulate(_ y: Tensor) {
            if sum.isEmpty {
                classes = y.count / max(1, n)
                sum = [Double](repeating: 0, count: y.count)
            }
            let p = y.pointer
            for i in 0..<y.count { sum[i] += Double(p[i]) }
        }
        for v in 0..<views {
            var view = images
            if views > 1 {
                view = Tensor(uninitializedShape: [n] + Array(images.shape.dropFirst()))
                let to = view.mutablePointer(), from = images.pointer
                for i in 0..<n { (to + i * per).update(from: from + (i * views + v) * per, count: per) }
            }
            accumulate(output(view))
            if flip { accumulate(output(mirror(view))) }
        }
        let count = Double(views * (flip ? 2 : 1))
        var out = Tensor(uninitializedShape: [n, classes])
        let o = out.mutablePointer()
        for i in 0..<sum.count { o[i] = Float(sum[i] / count) }
        return out
    }

    /// Mean class probabilities of `model` (in eval mode) over the views of a batch from
    /// `views(of:)` (`images` holding `views` images per sample, as `LabeledBatch`); without
    /// augmentation, the softmax of each image.
    /// - Parameters:
    ///   - model: the model, in eval mode.
    ///   - images: `[N · views, C, H, W]`, sample-major.
    ///   - views: images per sample in `images`.
    ///   - augmentation: the augmentation the batch was made for (`flip` alone mirrors the
    ///     images here); nil uses the images as they are.
    public static func probabilities(
        _ model: Module, _ images: Tensor, views: Int = 1, augmentation: TestTimeAugmentation?
    ) -> Tensor {
        mean(images, views: views, flip: augmentation?.mirrorsBatches ?? false) { CrossEntropy.softmax(model($0)) }
    }

    /// `images` (`[N, C, H, W]`) mirrored left to right.
    public static func mirror(_ images: Tensor) -> Tensor {
        let width = images.size(3), rows = images.count / width
        var out = Tensor(uninitializedShape: images.shape)
        let source = images.pointer, target = out.mutablePointer()
        for r in 0..<rows {
            let from = source + r * width, to = target + r * width
            for x in 0..<width { to[x] = from[width - 1 - x] }
        }
        return out
    }
}
