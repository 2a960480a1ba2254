import Foundation
import GraftSupport
import GraftTensor

/// A stratified train/validation split, written to a JSON file so every run of a comparison sees
/// the same images. Items are stored as relative paths (for a folder) so the file stays valid
/// when the dataset moves; `fileListHash` detects a dataset that changed since.
public struct DataSplit: Codable, Sendable, Equatable {
    public var format: Int = 1
    /// The dataset root the split was made for (as given, made absolute).
    public var root: String
    public var classes: [String]
    public var seed: UInt64
    public var valFraction: Double
    public var train: [String]
    public var val: [String]
    /// SHA-256 of "label<TAB>path<LF>" over every sample, in dataset order.
    public var fileListHash: String

    /// Where `graft data split DIR` writes by default: `DIR/.graft-split.json`. The leading dot
    /// keeps it out of the ImageFolder scan.
    public static func defaultURL(for root: URL) -> URL { root.appendingPathComponent(".graft-split.json") }

    /// Stratified, seeded: within each class the items are shuffled with the split's own generator
    /// (stream (seed, class)), and the first `round(fraction * n)` go to validation; at least one
    /// stays in training when a class has any. Both lists come back in dataset order.
    /// - Precondition: labels are non-negative.
    public static func stratified(labels: [Int], valFraction: Double, seed: UInt64) -> (train: [Int], val: [Int]) {
        let numClasses = (labels.max() ?? -1) + 1
        var byClass = [[Int]](repeating: [], count: numClasses)
        for (i, l) in labels.enumerated() { byClass[l].append(i) }
        var train: [Int] = [], val: [Int] = []
        for (c, var members) in byClass.enumerated() where !members.isEmpty {
            var rng = RandomGenerator.stream(seed, UInt64(c), 0x5350_4C49_54)
            rng.shuffle(&members)
            var nVal = Int((valFraction * Double(members.count)).rounded())
            nVal = min(max(nVal, 0), valFraction < 1 ? members.count - 1 : members.count)
            val += members[..<nVal]
            train += members[nVal...]
        }
        return (train.sorted(), val.sorted())
    }

    public static func fileListHash(_ dataset: any Dataset) -> String {
        var text = ""
        for i in 0..<dataset.count { text += "\(dataset.label(i))\t\(dataset.itemName(i))\n" }
        return SHA256.hex(text)
    }

    /// Splits a dataset.
    /// - Throws: `DataError.invalidArgument` unless `0 <= valFraction < 1`.
    public static func make(
        _ dataset: any Dataset, root: URL, valFraction: Double = 0.2, seed: UInt64 = 0
    ) throws -> DataSplit {
        guard valFraction >= 0 && valFraction < 1 else {
            throw DataError.invalidArgument("validation fraction \(valFraction) must be in [0, 1)")
        }
        let (t, v) = stratified(labels: dataset.labels, valFraction: valFraction, seed: seed)
        return DataSplit(
            root: root.standardizedFileURL.path, classes: dataset.classNames, seed: seed,
            valFraction: valFraction, train: t.map(dataset.itemName), val: v.map(dataset.itemName),
            fileListHash: fileListHash(dataset))
    }

    /// Dataset indices of the train and val items.
    /// - Throws: `DataError.splitMismatch` when the classes differ or a listed item is gone.
    public func indices(in dataset: any Dataset, splitPath: String = "split") throws -> (train: [Int], val: [Int]) {
        guard dataset.classNames == classes else {
            throw DataError.splitMismatch(
                path: splitPath, detail: "classes \(classes) but the dataset has \(dataset.classNames)")
        }
        var position: [String: Int] = [:]
        for i in 0..<dataset.count { position[dataset.itemName(i)] = i }
        func resolve(_ names: [String]) throws -> [Int] {
            try names.map { name in
                guard let i = position[name] else {
                    throw DataError.splitMismatch(
                        path: splitPath, detail: "\(name) is in the split but not in the dataset")
                }
                return i
            }
        }
        return (try resolve(train), try resolve(val))
    }

    /// Whether the dataset still lists exactly the files the split was made from.
    public func matches(_ dataset: any Dataset) -> Bool { Self.fileListHash(dataset) == fileListHash }

    /// The split file at `url` read against `folder`, or nil when there is none. `graft data
    /// split` leaves out the files that only a full decode finds unreadable, so when the quick
    /// listing does not match, the folder is listed again with every image decoded, and that
    /// listing comes back as `folder`. `matches` says whether the split fits it.
    public static func read(
        from url: URL, against folder: ImageFolder
    ) throws -> (split: DataSplit, folder: ImageFolder, matches: Bool)? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let split = try read(from: url)
        if split.matches(folder) { return (split, folder, true) }
        let verified = try ImageFolder(root: folder.root, verify: true, decodeOptions: folder.decodeOptions)
        return (split, verified, split.matches(verified))
    }
}

extension DataSplit: JSONFile { public static let fileKind = "split" }

/// Per-channel mean and standard deviation of pixel values in [0, 1] over a set of images (the
/// `Normalize` constants a dataset's own statistics give).
public struct ChannelStats: Codable, Sendable, Equatable {
    public var mean: [Double]
    /// Population standard deviation over all pixels.
    public var std: [Double]
    public var images: Int
    public var pixels: Int
    /// Shorter side the images were resized to first (0: as decoded).
    public var resize: Int
    /// The split's `fileListHash`, when computed over a split's training items.
    public var splitHash: String?

    /// The stats file that belongs to a split file: `X.json` → `X.stats.json`, same folder.
    public static func url(forSplit split: URL) -> URL {
        split.deletingPathExtension().appendingPathExtension("stats.json")
    }

    /// Computes the statistics on 2 threads; exact integer sums per channel, so the result does not
    /// depend on the thread count.
    /// - Parameter dataset: the images.
    /// - Parameter indices: the items to measure, usually a split's training items.
    /// - Parameter resize: shorter side to resize each image to first; 0 keeps it as decoded.
    /// - Parameter options: how the images are decoded.
    /// - Parameter failures: unreadable images are recorded there and left out.
    public static func compute(
        _ dataset: any Dataset, indices: [Int], resize: Int = 0,
        options: JPEGDecodeOptions = .init(), failures: FailureLog? = nil
    ) throws -> ChannelStats {
        let acc = StatsAccumulator()
        let workers = 2
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var sums = [Int64](repeating: 0, count: 7)  // 3 sums, 3 sums of squares, pixel count
            var images = 0
            for k in stride(from: w, to: indices.count, by: workers) {
                let i = indices[k]
                do {
                    var image = try dataset.loadImage(i, options: options)
                    if resize > 0 { image = image.resized(shorterSide: resize) }
                    image.pixels.withUnsafeBufferPointer { p in
                        var s0: Int64 = 0, s1: Int64 = 0, s2: Int64 = 0, q0: Int64 = 0, q1: Int64 = 0, q2: Int64 = 0
                        let n = image.width * image.height
                        for j in 0..<n {
                            let r = Int64(p[3 * j]), g = Int64(p[3 * j + 1]), b = Int64(p[3 * j + 2])
                            s0 += r; s1 += g; s2 += b
                            q0 += r * r; q1 += g * g; q2 += b * b
                        }
                        sums[0] += s0; sums[1] += s1; sums[2] += s2
                        sums[3] += q0; sums[4] += q1; sums[5] += q2
                        sums[6] += Int64(n)
                    }
                    images += 1
                } catch {
                    failures?.record(index: i, name: dataset.itemName(i), error: error)
                }
            }
            acc.add(sums, images: images)
        }
        let (sums, images) = acc.result
        guard sums[6] > 0 else {
            throw DataError.emptyDataset(path: "stats", detail: "no readable images among \(indices.count)")
        }
        let n = Double(sums[6])
        var mean = [Double](), std = [Double]()
        for c in 0..<3 {
            let m = Double(sums[c]) / n
            let v = max(0, Double(sums[3 + c]) / n - m * m)
            mean.append(m / 255)
            std.append(v.squareRoot() / 255)
        }
        return ChannelStats(mean: mean, std: std, images: images, pixels: Int(sums[6]), resize: resize, splitHash: nil)
    }

}

extension ChannelStats: JSONFile { public static let fileKind = "stats" }

/// The split and stats files: pretty, sorted JSON written atomically; read errors name the file.
public protocol JSONFile: Codable {
    static var fileKind: String { get }
}

extension JSONFile {
    public func write(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            try encoder.encode(self).write(to: url, options: .atomic)
        } catch {
            throw DataError.io(path: url.path, detail: "cannot write \(Self.fileKind)", cause: ErrorCause(error))
        }
    }

    public static func read(from url: URL) throws -> Self {
        let data = try JPEG.readFile(url)
        do {
            return try JSONDecoder().decode(Self.self, from: data)
        } catch {
            throw DataError.badSplitFile(path: url.path, detail: "\(error)")
        }
    }
}

private final class StatsAccumulator: @unchecked Sendable {
    private let lock = NSLock()
    private var sums = [Int64](repeating: 0, count: 7)
    private var images = 0
    func add(_ s: [Int64], images n: Int) {
        lock.lock()
        for i in 0..<7 { sums[i] += s[i] }
        images += n
        lock.unlock()
    }
    var result: ([Int64], Int) {
        lock.lock()
        defer { lock.unlock() }
        return (sums, images)
    }
}
