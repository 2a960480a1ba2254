import Foundation
import GraftNN
import GraftTensor

/// Test-time augmentation: a model sees each image as given and as its mirror image, and its
/// class probabilities are the mean over the views (torchvision's and fastai's `flip`).
public enum TestTimeAugmentation: String, Sendable, Codable, CaseIterable {
    /// The image and its horizontal mirror.
    case flip

    /// Mean class probabilities of `model` (in eval mode) over the views of `images`
    /// (`[N, C, H, W]`); without augmentation, its softmax.
    public static func probabilities(_ model: Module, _ images: Tensor, augmentation: TestTimeAugmentation?) -> Tensor {
        var sum = CrossEntropy.softmax(model(images))
        guard let augmentation else { return sum }
        switch augmentation {
        case .flip:
            let mirrored = CrossEntropy.softmax(model(mirror(images)))
            let s = sum.mutablePointer(), m = mirrored.pointer
            for i in 0..<sum.count { s[i] = (s[i] + m[i]) / 2 }
        }
        return sum
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
