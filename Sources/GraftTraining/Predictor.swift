import Foundation
import GraftData
import GraftModels
import GraftNN
import GraftTensor
import GraftWeights
import GraftZoo

/// Class probabilities for image files: the eval transform from the weights (or the card), one
/// batched forward pass in eval mode.
public struct Predictor {
    /// One image's most likely classes, most probable first.
    public struct Prediction: Codable, Sendable {
        /// The image's path.
        public var image: String
        /// The `k` most probable classes, most probable first.
        public var top: [Entry]
        /// One class and its probability.
        public struct Entry: Codable, Sendable {
            /// The class's index in the model's output.
            public var classIndex: Int
            /// The class's name (`class N` when the weights and card name none).
            public var className: String
            /// Softmax probability.
            public var probability: Double
        }
    }

    /// The model, in eval mode.
    public let model: any BlockStructured
    /// Class names by output index.
    public let classNames: [String]
    /// Resize, center crop and normalisation, as at validation.
    public let transform: EvalTransform
    /// Test-time augmentation: nil predicts from the image alone; `flip` adds its mirror;
    /// `crops` uses the five crops of the photo resized to `transform`'s resize (torchvision's
    /// `FiveCrop`) in place of its centre crop; `flip,crops` is `TenCrop` (10 views).
    /// Probabilities are the mean over the views.
    public var augmentation: TestTimeAugmentation?

    /// Loads a weights file strictly into the architecture of `card` (or of the file's own
    /// attributes), with the file's class count. Class names come from the file, else from the
    /// card (`zoo.classNames(of:)`), else are `class N`.
    public init(weights url: URL, card: ModelCard?, zoo: Zoo? = nil) throws {
        let (state, attributes) = try WeightsFile.read(url)
        let architecture = card?.modelArchitecture ?? attributes.architecture
        let model = try Architecture(named: architecture).make(numClasses: attributes.numClasses)
        _ = try model.load(state, strict: true)
        let bad = nonFiniteKeys(in: state)
        guard bad.isEmpty else {
            throw WeightsError.nonFinite(path: url.path, keys: bad)
        }
        model.eval()
        self.model = model
        var names = attributes.classNames
        if names.count != attributes.numClasses {
            names = try card.flatMap { card in try zoo?.classNames(of: card) } ?? []
        }
        if names.count != attributes.numClasses { names = (0..<attributes.numClasses).map { "class \($0)" } }
        classNames = names
        let crop = attributes.inputSize.last ?? card?.inputSize.last ?? 224
        let resize = card?.resize ?? max(crop, crop * 256 / 224)
        transform = try EvalTransform(
            resize: resize, crop: crop, mean: attributes.mean.map(Float.init),
            std: attributes.std.map(Float.init), dctScaling: true)
    }

    /// The `k` most probable classes of each image, in one batched forward pass.
    /// - Throws: the first image that cannot be read or decoded stops the batch; `predictEach`
    ///   predicts the others.
    public func predict(_ images: [URL], top k: Int = 5) throws -> [Prediction] {
        try predict(images.map { try tensor(contentsOf: $0) }, names: images.map(\.path), top: k)
    }

    /// Predicts every image that decodes; the others come back as failures, each with its error,
    /// so one bad photo does not stop the rest.
    public func predictEach(
        _ images: [URL], top k: Int = 5
    ) throws
        -> (predictions: [Prediction], failures: [(image: String, error: any Error)])
    {
        var tensors: [Tensor] = [], names: [String] = [], failures: [(image: String, error: any Error)] = []
        for url in images {
            do {
                tensors.append(try tensor(contentsOf: url))
                names.append(url.path)
            } catch {
                failures.append((url.path, error))
            }
        }
        return (try predict(tensors, names: names, top: k), failures)
    }

    /// The image files `paths` name: a file as given, a directory searched recursively for the
    /// extensions an ImageFolder reads (`ImageFolder.imageExtensions`), in path order.
    /// - Throws: `DataError.io` naming a path that does not exist or a directory that cannot be read.
    public static func imageFiles(in paths: [URL]) throws -> [URL] {
        try paths.flatMap { url -> [URL] in
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
                throw DataError.io(path: url.path, detail: "no such file or directory")
            }
            guard isDirectory.boolValue else { return [url] }
            guard let walker = FileManager.default.enumerator(at: url, includingPropertiesForKeys: [.isRegularFileKey])
            else { throw DataError.io(path: url.path, detail: "cannot list the directory") }
            return walker.compactMap { $0 as? URL }
                .filter { ImageFolder.imageExtensions.contains($0.pathExtension.lowercased()) }
                .sorted { $0.path < $1.path }
        }
    }

    /// One image's input: `[3, S, S]`, or `[5, 3, S, S]` (`[10, 3, S, S]` with flip) with crops.
    func tensor(contentsOf url: URL) throws -> Tensor {
        guard let augmentation, augmentation.crops else { return try transform(contentsOf: url) }
        return try transform.cropViews(contentsOf: url, mirrored: augmentation.flip)
    }

    func predict(_ tensors: [Tensor], names: [String], top k: Int) throws -> [Prediction] {
        guard !tensors.isEmpty else { return [] }
        let per = tensors[0].count
        let views = tensors[0].shape.count == 4 ? tensors[0].size(0) : 1
        let image = Array(tensors[0].shape.suffix(3))
        var batch = Tensor(uninitializedShape: [tensors.count * views] + image)
        let p = batch.mutablePointer()
        for (i, t) in tensors.enumerated() { (p + i * per).update(from: t.pointer, count: per) }
        let probabilities = TestTimeAugmentation.probabilities(
            model, batch, views: views, augmentation: augmentation)
        let c = probabilities.size(1)
        return names.enumerated().map { i, name in
            let row = (0..<c).map { Double(probabilities.pointer[i * c + $0]) }
            let order = row.indices.sorted { row[$0] > row[$1] }.prefix(max(1, min(k, c)))
            return Prediction(
                image: name,
                top: order.map {
                    .init(classIndex: $0, className: classNames[$0], probability: row[$0])
                })
        }
    }
}
