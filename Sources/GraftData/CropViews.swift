import Foundation
import GraftTensor

/// torchvision's `FiveCrop((height, width))`, or with `mirrored` its `TenCrop`, as the last step
/// of a pipeline: test-time augmentation's crop views.
///
/// The five crops come in torchvision's `five_crop` order: top-left, top-right, bottom-left,
/// bottom-right, centre. `TenCrop` appends the five crops of the horizontally flipped image, in
/// the same order. (Those are the mirrors of the five crops, except that the flipped image's
/// centre crop is one pixel off the centre crop's mirror when the margin is odd: it is taken
/// from the flipped image, as torchvision does.)
public struct CropViews: Sendable, Equatable, Codable {
    /// The width of each crop.
    public var width: Int
    /// The height of each crop.
    public var height: Int
    /// Also the five crops of the flipped image (`TenCrop`).
    public var mirrored: Bool

    /// The ratio of crop to resize in torchvision's ImageNet evaluation (224 of 256): a pipeline
    /// that resizes straight to the model's size gets its crops from the image resized to
    /// `size / 0.875`.
    public static let cropFraction = 0.875

    /// - Parameters:
    ///   - width: the width of each crop, in pixels.
    ///   - height: the height of each crop, in pixels.
    ///   - mirrored: also the five crops of the horizontally flipped image (`TenCrop`).
    public init(width: Int, height: Int, mirrored: Bool) {
        self.width = width
        self.height = height
        self.mirrored = mirrored
    }

    /// Views per image: 5, or 10 mirrored.
    public var count: Int { mirrored ? 10 : 5 }

    /// The top-left corners of the five crops in an image of `imageWidth` × `imageHeight`, in
    /// torchvision's `five_crop` order; the centre one is `CenterCrop`'s (offsets rounded half
    /// to even, as Python's `round`).
    /// - Parameters:
    ///   - imageWidth: the width of the image the crops are cut from.
    ///   - imageHeight: the height of the image the crops are cut from.
    /// - Throws: `DataError.invalidArgument` when a crop is larger than the image.
    public func origins(imageWidth: Int, imageHeight: Int) throws -> [(x: Int, y: Int)] {
        guard width <= imageWidth, height <= imageHeight else {
            throw DataError.invalidArgument(
                "crops of \(width)x\(height) do not fit in a \(imageWidth)x\(imageHeight) image")
        }
        let right = imageWidth - width, bottom = imageHeight - height
        let centre = RGB8Image.centerCropOrigin(
            width: imageWidth, height: imageHeight, cropWidth: width, cropHeight: height)
        return [(0, 0), (right, 0), (0, bottom), (right, bottom), centre]
    }

    /// The crops of `image`, in torchvision's order.
    /// - Parameter image: the image after the pipeline's ops (resized, not yet cropped).
    /// - Throws: `DataError.invalidArgument` when a crop is larger than the image.
    public func callAsFunction(_ image: RGB8Image) throws -> [RGB8Image] {
        let origins = try origins(imageWidth: image.width, imageHeight: image.height)
        func five(_ image: RGB8Image) -> [RGB8Image] {
            origins.map { image.cropped(x: $0.x, y: $0.y, width: width, height: height) }
        }
        return mirrored ? five(image) + five(image.flippedHorizontally()) : five(image)
    }
}

extension TransformPipeline {
    /// How many images the pipeline makes of each input: 5 or 10 with `cropViews`, else 1.
    public var viewCount: Int { cropViews?.count ?? 1 }

    /// The evaluation pipeline whose views are the crops a torchvision user gets from
    /// `FiveCrop` (or, `mirrored`, `TenCrop`) in place of the centre crop, each the size the
    /// model sees:
    ///
    /// - `Resize(R) → CenterCrop(S)` (photos) becomes `Resize(R) → FiveCrop(S)`: the five S-crops
    ///   of the image resized to R, the centre one being the unaugmented image.
    /// - A plain resize to S×S (Fashion-MNIST) becomes a resize to `round(S / 0.875)` on each side
    ///   then `FiveCrop(S)`: torchvision's 224-of-256 ratio, since crops of the S×S image itself
    ///   would be smaller than the model's input.
    /// - Parameter mirrored: add the five crops of the flipped image (`TenCrop`).
    /// - Throws: `DataError.invalidArgument` for a pipeline that ends otherwise (random ops, no
    ///   fixed output size) or already has crop views.
    public func withCropViews(mirrored: Bool) throws -> TransformPipeline {
        guard cropViews == nil, deterministicPrefixCount == ops.count, let last = ops.last else {
            throw DataError.invalidArgument(
                "crop views need a deterministic evaluation pipeline ending in a centre crop or a fixed-size resize")
        }
        var views = self
        let size: (width: Int, height: Int)
        switch last {
        case .centerCrop(let w, let h):
            views.ops.removeLast()
            size = (w, h)
        case .resizeTo(let w, let h):
            let rw = Int((Double(w) / CropViews.cropFraction).rounded(.toNearestOrEven))
            let rh = Int((Double(h) / CropViews.cropFraction).rounded(.toNearestOrEven))
            views.ops[views.ops.count - 1] = .resizeTo(width: rw, height: rh)
            size = (w, h)
        default:
            throw DataError.invalidArgument(
                "crop views need an evaluation pipeline ending in a centre crop or a fixed-size resize, not \(last)")
        }
        views.cropViews = CropViews(width: size.width, height: size.height, mirrored: mirrored)
        return views
    }

    /// The views of an image that went through `ops`: its crops, or the image itself.
    /// - Parameter image: the output of `applyOps`.
    /// - Throws: `DataError.invalidArgument` when a crop is larger than the image.
    public func views(of image: RGB8Image) throws -> [RGB8Image] {
        guard let cropViews else { return [image] }
        return try cropViews(image)
    }
}
