import Foundation
import GraftData
import GraftSupport
import GraftTensor

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

    /// - Parameter splitDirectory: where the split file goes (the catalog's `splits/`); nil
    ///   writes `.graft-split.json` into the dataset folder.
    public static func make(_ spec: DataSpecification, batchSize: Int, seed: UInt64,
                            splitDirectory: URL? = nil) throws -> DataSources {
        let base: any Dataset
        let splitHash: String
        var train: [Int], val: [Int]
        if spec.source == DataSpecification.fashionMNIST {
            let fm = try FashionMNIST(split: .train)
            base = fm
            (train, val) = DataSplit.stratified(labels: fm.labels, valFraction: spec.validationFraction, seed: spec.splitSeed)
            splitHash = "fashion-mnist-train/\(spec.validationFraction)/\(spec.splitSeed)"
        } else {
            let root = URL(fileURLWithPath: spec.source)
            let folder = try ImageFolder(root: root)
            base = folder
            let splitURL = splitDirectory.map {
                $0.appendingPathComponent("\(root.lastPathComponent)-\(SHA256.hex(root.standardizedFileURL.path).prefix(12)).json")
            } ?? DataSplit.defaultURL(for: root)
            var split: DataSplit? = nil
            if let existing = try? DataSplit.read(from: splitURL), existing.matches(folder),
               existing.seed == spec.splitSeed, existing.valFraction == spec.validationFraction {
                split = existing
            }
            if split == nil {
                split = try DataSplit.make(folder, root: root, valFraction: spec.validationFraction, seed: spec.splitSeed)
                // A read-only location still trains: the split is then only in memory and the catalog.
                try? FileManager.default.createDirectory(at: splitURL.deletingLastPathComponent(),
                                                         withIntermediateDirectories: true)
                try? split!.write(to: splitURL)
            }
            (train, val) = try split!.indices(in: folder, splitPath: splitURL.path)
            splitHash = split!.fileListHash
        }
        guard !train.isEmpty else { throw DataError.invalidArgument("\(spec.source): no training images") }

        // Class subset (in the given order) and per-class limits, relabelled 0..<k.
        var classNames = base.classNames
        var labelMap: [Int: Int]? = nil
        if let wanted = spec.classes {
            var map: [Int: Int] = [:]
            for (newLabel, name) in wanted.enumerated() {
                guard let old = Self.classIndex(name, in: base) else {
                    throw DataError.invalidArgument("\(spec.source): no class '\(name)' (classes: \(base.classNames.joined(separator: ", ")))")
                }
                map[old] = newLabel
            }
            labelMap = map
            classNames = wanted.map { base.classNames[Self.classIndex($0, in: base)!] }
            train = train.filter { map[base.label($0)] != nil }
            val = val.filter { map[base.label($0)] != nil }
        }
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
        let dataset = RelabelledDataset(base: base, labelMap: labelMap, classNames: classNames)

        guard let mean = spec.mean, let std = spec.std else {
            throw DataError.invalidArgument("\(spec.source): no normalisation (mean and std) given for the images")
        }
        let size = spec.imageSize
        let isSmall = spec.source == DataSpecification.fashionMNIST
        // Photos: shorter side to size·256/224 then a centre crop, as torchvision's eval recipe.
        let evalOps: [ImageOp] = isSmall
            ? [.resizeTo(width: size, height: size)]
            : [.resize(shorterSide: max(size, size * 256 / 224)), .centerCrop(size: size)]
        let trainOps: [ImageOp] = spec.augment
            ? (isSmall ? [.resizeTo(width: size, height: size)] : [.resize(shorterSide: max(size, size * 256 / 224))])
                + [.randomResizedCrop(width: size, height: size, minScale: isSmall ? 0.6 : 0.08, maxScale: 1,
                                      minRatio: 3.0 / 4, maxRatio: 4.0 / 3),
                   .horizontalFlip(probability: 0.5)]
            : evalOps
        let failures = FailureLog()
        let cache = spec.cacheDecoded ? cacheBytes : 0
        let trainLoader = try BatchLoader(
            dataset: dataset, indices: train, transform: try TransformPipeline(ops: trainOps, mean: mean, std: std),
            options: .init(batchSize: batchSize, shuffle: true, seed: seed, cacheBytes: cache), failures: failures)
        let valLoader = try BatchLoader(
            dataset: dataset, indices: val, transform: try TransformPipeline(ops: evalOps, mean: mean, std: std),
            options: .init(batchSize: max(batchSize, 64), shuffle: false, seed: seed, cacheBytes: cache), failures: failures)
        return DataSources(train: LoaderSource(trainLoader), validation: LoaderSource(valLoader), classNames: classNames,
                           splitHash: splitHash, failures: failures)
    }

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

/// A `BatchLoader` as the trainer's batch source.
public final class LoaderSource: BatchSource {
    public let loader: BatchLoader

    public init(_ loader: BatchLoader) { self.loader = loader }

    public var sampleCount: Int { loader.indices.count }
    public var batchesPerEpoch: Int { loader.batchesPerEpoch }

    public func batches(epoch: Int, startingAt batch: Int) -> BatchIterator {
        let epochBatches = loader.batches(epoch: epoch, from: batch)
        return BatchIterator {
            guard let b = try epochBatches.nextBatch() else { return nil }
            return LabeledBatch(images: b.images, labels: b.labels, ids: b.indices)
        }
    }

    public var samplesAreDeterministic: Bool {
        loader.transform.deterministicPrefixCount == loader.transform.ops.count
    }

    public func sampleIdentities(epoch: Int) -> [(ids: [Int], labels: [Int])]? {
        let order = loader.order(epoch: epoch), size = loader.options.batchSize
        return (0..<batchesPerEpoch).map { b in
            let ids = Array(order[(b * size)..<min(order.count, (b + 1) * size)])
            return (ids, ids.map(loader.dataset.label))
        }
    }

    public func batch(epoch: Int, index: Int) throws -> LabeledBatch {
        let b = try loader.makeBatch(epoch: epoch, index: index)
        return LabeledBatch(images: b.images, labels: b.labels, ids: b.indices)
    }

    /// Empties the loader's decoded-image cache.
    public func releaseKeptImages() { loader.cache?.removeAll() }
}
