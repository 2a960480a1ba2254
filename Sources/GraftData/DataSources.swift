import Foundation
import GraftSupport
import GraftTensor

/// Which images a run trains and validates on.
public struct DataSpecification: Codable, Sendable, Equatable {
    /// An ImageFolder directory, or `fashion-mnist` for Debian's packaged arrays.
    public var source: String
    /// Side of the square images the model sees.
    public var imageSize: Int
    public var validationFraction: Double = 0.2
    public var splitSeed: UInt64 = 0
    /// Random resized crop + horizontal flip on the training split (what `augmentation`'s
    /// `cropAndFlip` says when that is set; kept for configurations written before it).
    public var augment: Bool = false
    /// The training split's augmentation; nil falls back to `augment`.
    public var augmentation: Augmentation? = nil
    /// Keep only these classes (names), in this order; nil keeps all.
    public var classes: [String]? = nil
    /// At most this many training images per class (small transfer experiments).
    public var trainPerClass: Int? = nil
    /// Normalisation; nil uses the model card's.
    public var mean: [Float]? = nil
    public var std: [Float]? = nil
    /// Keep decoded, resized images in memory after the first epoch.
    public var cacheDecoded: Bool = true

    public init(source: String, imageSize: Int) {
        self.source = source
        self.imageSize = imageSize
    }

    public static let fashionMNIST = "fashion-mnist"
}

/// Training and validation batch sources for a data specification.
///
/// Both come from one dataset split by a stratified, seeded split that is written down (the
/// ImageFolder's `.graft-split.json`), so every run of a comparison sees the same split.
public struct DataSources {
    public var train: BatchSource
    public var validation: BatchSource
    public var classNames: [String]
    /// The split's fingerprint (hash of the file list) for the catalog.
    public var splitHash: String
    /// Unreadable images met so far (reported once each by the loader).
    public var failures: FailureLog

    /// Bytes of decoded, resized images kept in memory across epochs.
    public static let cacheBytes = 1 << 30

    /// - Parameter spec: the data: source, split, classes, images per class, transforms.
    /// - Parameter batchSize: training batch size; validation batches hold at least 64 images.
    /// - Parameter seed: seed of the loaders: training order and augmentation.
    /// - Parameter splitDirectory: where the split file goes (the catalog's `splits/`); nil
    ///   writes `.graft-split.json` into the dataset folder.
    public static func make(
        _ spec: DataSpecification, batchSize: Int, seed: UInt64,
        splitDirectory: URL? = nil
    ) throws -> DataSources {
        let base: any Dataset
        let splitHash: String
        var train: [Int], val: [Int]
        if spec.source == DataSpecification.fashionMNIST {
            let fm = try FashionMNIST(split: .train)
            base = fm
            (train, val) = DataSplit.stratified(
                labels: fm.labels, valFraction: spec.validationFraction, seed: spec.splitSeed)
            splitHash = "fashion-mnist-train/\(spec.validationFraction)/\(spec.splitSeed)"
        } else {
            let root = URL(fileURLWithPath: spec.source)
            var folder = try ImageFolder(root: root)
            let splitURL =
                splitDirectory.map {
                    $0.appendingPathComponent(
                        "\(root.lastPathComponent)-\(SHA256.hex(root.standardizedFileURL.path).prefix(12)).json")
                } ?? DataSplit.defaultURL(for: root)
            // The run's own copy first, then the folder's `.graft-split.json` from `graft data split`,
            // when either was made with this seed and fraction from these files.
            var split: DataSplit? = nil
            for url in [splitURL, DataSplit.defaultURL(for: root)] {
                guard let (existing, listed, matches) = (try? DataSplit.read(from: url, against: folder)) ?? nil,
                    existing.seed == spec.splitSeed, existing.valFraction == spec.validationFraction, matches
                else { continue }
                folder = listed
                split = existing
                if url != splitURL { try? Self.keepCopy(existing, at: splitURL) }
                break
            }
            if split == nil {
                split = try DataSplit.make(
                    folder, root: root, valFraction: spec.validationFraction, seed: spec.splitSeed)
                try? Self.keepCopy(split!, at: splitURL)
            }
            base = folder
            (train, val) = try split!.indices(in: folder, splitPath: splitURL.path)
            splitHash = split!.fileListHash
        }
        guard !train.isEmpty else { throw DataError.invalidArgument("\(spec.source): no training images") }

        // Class subset (in the given order) and per-class limits, relabelled 0..<k.
        let subset = try ClassSubset(spec.classes, of: base, source: spec.source)
        train = subset.keep(train, of: base)
        val = subset.keep(val, of: base)
        if let limit = spec.trainPerClass {
            // Few labels for training; validation keeps every image of its split, so a
            // few-label run is still measured on a large, fixed set (with 25 per class, a
            // proportionally shrunk validation split would hold 7 images a class).
            var taken: [Int: Int] = [:]
            train = train.filter { i in
                let l = base.label(i)
                taken[l, default: 0] += 1
                return taken[l]! <= limit
            }
        }
        let dataset = subset.relabelled(base)

        let (mean, std) = try spec.normalisation()
        let failures = FailureLog()
        let cache = spec.cacheDecoded ? cacheBytes : 0
        let trainLoader = try BatchLoader(
            dataset: dataset, indices: train,
            transform: try TransformPipeline(ops: spec.trainingOps, mean: mean, std: std),
            options: .init(batchSize: batchSize, shuffle: true, seed: seed, cacheBytes: cache), failures: failures)
        let valLoader = try BatchLoader(
            dataset: dataset, indices: val,
            transform: try TransformPipeline(ops: spec.evaluationOps, mean: mean, std: std),
            options: .init(batchSize: max(batchSize, 64), shuffle: false, seed: seed, cacheBytes: cache),
            failures: failures)
        return DataSources(
            train: trainLoader, validation: valLoader, classNames: subset.classNames,
            splitHash: splitHash, failures: failures)
    }

    /// Writes the split where the run keeps it. A read-only location still trains: the split is
    /// then only in memory and the catalog.
    private static func keepCopy(_ split: DataSplit, at url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try split.write(to: url)
    }

    /// Every image of the ImageFolder `spec.source`, with the evaluation transform, labelled by
    /// `classNames` (a model's classes): a held-out test folder. Its class folders must be those
    /// classes, in any order; scoring against other labels would be meaningless.
    /// - Throws: `DataError.classMismatch` naming the folder, the classes it lacks and those it
    ///   has besides; the errors of reading the folder.
    public static func wholeFolder(
        _ spec: DataSpecification, classNames: [String], batchSize: Int
    ) throws -> BatchSource {
        let folder = try ImageFolder(root: URL(fileURLWithPath: spec.source))
        let missing = classNames.filter { !folder.classNames.contains($0) }
        let extra = folder.classNames.filter { !classNames.contains($0) }
        guard missing.isEmpty, extra.isEmpty else {
            throw DataError.classMismatch(path: spec.source, missing: missing, extra: extra)
        }
        let (mean, std) = try spec.normalisation()
        let subset = try ClassSubset(classNames, of: folder, source: spec.source)
        return try BatchLoader(
            dataset: subset.relabelled(folder), indices: subset.keep(Array(0..<folder.count), of: folder),
            transform: try TransformPipeline(ops: spec.evaluationOps, mean: mean, std: std),
            options: .init(batchSize: batchSize, shuffle: false))
    }

    /// Fashion-MNIST's 10,000 test images with the evaluation transform and class subset of `spec`.
    public static func fashionMNISTTest(_ spec: DataSpecification, batchSize: Int) throws -> BatchSource {
        let (mean, std) = try spec.normalisation()
        let test = try FashionMNIST(split: .test)
        let subset = try ClassSubset(spec.classes, of: test, source: spec.source)
        let transform = try TransformPipeline(ops: spec.evaluationOps, mean: mean, std: std)
        return try BatchLoader(
            dataset: subset.relabelled(test), indices: subset.keep(Array(0..<test.count), of: test),
            transform: transform, options: .init(batchSize: batchSize, shuffle: false))
    }
}

extension DataSpecification {
    /// The mean and std the images are normalised with.
    /// - Throws: `DataError.invalidArgument` when the specification has none.
    func normalisation() throws -> (mean: [Float], std: [Float]) {
        guard let mean, let std else {
            throw DataError.invalidArgument("\(source): no normalisation (mean and std) given for the images")
        }
        return (mean, std)
    }

    private var isFashionMNIST: Bool { source == Self.fashionMNIST }

    /// Validation and test images: Fashion-MNIST resized to the model's size; photos with
    /// torchvision's eval recipe, shorter side to size·256/224 then a centre crop.
    var evaluationOps: [ImageOp] {
        isFashionMNIST
            ? [.resizeTo(width: imageSize, height: imageSize)]
            : [.resize(shorterSide: max(imageSize, imageSize * 256 / 224)), .centerCrop(size: imageSize)]
    }

    /// The augmentation the training split gets: `augmentation`, or for a configuration that has
    /// only `augment`, crop + flip (the `light` preset) or nothing.
    public var effectiveAugmentation: Augmentation {
        augmentation ?? (augment ? Augmentation(preset: .light) : Augmentation())
    }

    /// Sets `augmentation` and keeps `augment` (crop + flip) in step with it.
    public mutating func setAugmentation(_ value: Augmentation?) {
        augmentation = value
        augment = value?.cropAndFlip ?? false
    }

    /// Training images: the evaluation ops, or with crop + flip a random resized crop (milder on
    /// Fashion-MNIST's small centred items) and a horizontal flip; then the other random ops of
    /// `effectiveAugmentation` at the model's input size (cheaper than before the crop).
    public var trainingOps: [ImageOp] {
        let augmentation = effectiveAugmentation
        guard augmentation.cropAndFlip else { return evaluationOps + augmentation.randomOps() }
        let size = imageSize
        let resize: ImageOp =
            isFashionMNIST
            ? .resizeTo(width: size, height: size)
            : .resize(shorterSide: max(size, size * 256 / 224))
        return [
            resize,
            .randomResizedCrop(
                width: size, height: size, minScale: isFashionMNIST ? 0.6 : 0.08, maxScale: 1,
                minRatio: 3.0 / 4, maxRatio: 4.0 / 3),
            .horizontalFlip(probability: 0.5),
        ] + augmentation.randomOps()
    }
}

/// A subset of a dataset's classes, in the order given, relabelled 0..<k; nil names keep every
/// class with its own labels.
struct ClassSubset {
    let classNames: [String]
    /// Old label → new label; nil when every class is kept.
    let labelMap: [Int: Int]?

    /// - Throws: `DataError.invalidArgument` naming `source` and the unknown class.
    init(_ names: [String]?, of dataset: any Dataset, source: String) throws {
        guard let names else {
            classNames = dataset.classNames
            labelMap = nil
            return
        }
        var map: [Int: Int] = [:], kept: [String] = []
        for (newLabel, name) in names.enumerated() {
            guard let old = Self.classIndex(name, in: dataset) else {
                throw DataError.invalidArgument(
                    "\(source): no class '\(name)' (classes: \(dataset.classNames.joined(separator: ", ")))")
            }
            map[old] = newLabel
            kept.append(dataset.classNames[old])
        }
        classNames = kept
        labelMap = map
    }

    /// The indices whose class is in the subset, in their order.
    func keep(_ indices: [Int], of dataset: any Dataset) -> [Int] {
        guard let labelMap else { return indices }
        return indices.filter { labelMap[dataset.label($0)] != nil }
    }

    func relabelled(_ dataset: any Dataset) -> any Dataset {
        labelMap == nil ? dataset : RelabelledDataset(base: dataset, labelMap: labelMap, classNames: classNames)
    }

    /// A class by exact name, Fashion-MNIST's short names, or case-insensitively.
    static func classIndex(_ name: String, in dataset: any Dataset) -> Int? {
        if let i = dataset.classNames.firstIndex(of: name) { return i }
        if dataset is FashionMNIST { return FashionMNIST.classIndex(name) }
        return dataset.classNames.firstIndex { $0.lowercased() == name.lowercased() }
    }
}

/// A dataset seen through a class subset: labels renumbered 0..<k in the subset's order.
struct RelabelledDataset: Dataset {
    let base: any Dataset
    let labelMap: [Int: Int]?
    let classNames: [String]

    var count: Int { base.count }
    func label(_ index: Int) -> Int {
        let l = base.label(index)
        return labelMap.map { $0[l] ?? -1 } ?? l
    }
    func loadImage(_ index: Int, options: JPEGDecodeOptions) throws -> RGB8Image {
        try base.loadImage(index, options: options)
    }
    func itemName(_ index: Int) -> String { base.itemName(index) }
    var decodesJPEG: Bool { base.decodesJPEG }
}
