import Foundation
import GraftSupport

/// Fashion-MNIST (Zalando): 28×28 grayscale, 60,000 training and 10,000 test images in 10 classes,
/// read from the gzip'd IDX files of Debian's `dataset-fashion-mnist`. Held in memory; served to
/// the loader as RGB (gray copied into three channels), so the same transforms apply.
public struct FashionMNIST: Dataset {
    public enum Split: String, Sendable, CaseIterable, Codable { case train, test }

    /// The standard class names, label order.
    public static let standardClassNames = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]

    /// File-system-safe versions of the class names (folder names for an exported ImageFolder).
    public static let folderNames = [
        "t-shirt-top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot",
    ]

    /// `$GRAFT_FASHION_MNIST` if set, else where Debian installs the files.
    public static var defaultDirectory: URL {
        if let env = ProcessInfo.processInfo.environment["GRAFT_FASHION_MNIST"] {
            return URL(fileURLWithPath: env)
        }
        return URL(fileURLWithPath: "/usr/share/datasets/fashion-mnist")
    }

    public static func files(_ split: Split, in directory: URL) -> (images: URL, labels: URL) {
        let prefix = split == .train ? "train" : "t10k"
        return (
            directory.appendingPathComponent("\(prefix)-images-idx3-ubyte.gz"),
            directory.appendingPathComponent("\(prefix)-labels-idx1-ubyte.gz")
        )
    }

    /// Whether both files of `split` exist in `directory`.
    public static func isAvailable(_ split: Split = .train, in directory: URL = defaultDirectory) -> Bool {
        let f = files(split, in: directory)
        return FileManager.default.fileExists(atPath: f.images.path)
            && FileManager.default.fileExists(atPath: f.labels.path)
    }

    public let split: Split
    public let rows: Int
    public let columns: Int
    /// `count * rows * columns` bytes, image after image, row-major.
    public let pixels: [UInt8]
    public let labelBytes: [UInt8]

    public var count: Int { labelBytes.count }
    public var classNames: [String] { Self.standardClassNames }
    public func label(_ index: Int) -> Int { Int(labelBytes[index]) }
    public func itemName(_ index: Int) -> String { "\(split.rawValue)/\(index)" }

    public func loadImage(_ index: Int, options: JPEGDecodeOptions) throws -> RGB8Image {
        let n = rows * columns
        return pixels.withUnsafeBufferPointer { buf in
            RGB8Image(
                width: columns, height: rows,
                gray: UnsafeBufferPointer(rebasing: buf[(index * n)..<((index + 1) * n)]))
        }
    }

    /// Reads and checks both IDX files (magic numbers, sizes, labels 0–9).
    /// - Throws: `DataError.io`, `.gzip` or `.badIDX` naming the file.
    public init(split: Split = .train, directory: URL = defaultDirectory) throws {
        self.split = split
        let f = Self.files(split, in: directory)
        let (imageDims, images) = try Self.readIDX(f.images, expectedMagic: 0x0803)
        let (labelDims, labels) = try Self.readIDX(f.labels, expectedMagic: 0x0801)
        guard imageDims.count == 3, labelDims.count == 1, imageDims[0] == labelDims[0] else {
            throw DataError.badIDX(
                path: f.images.path,
                detail: "image dims \(imageDims) do not fit label dims \(labelDims)")
        }
        if let bad = labels.first(where: { $0 > 9 }) {
            throw DataError.badIDX(path: f.labels.path, detail: "label \(bad) outside 0...9")
        }
        rows = imageDims[1]
        columns = imageDims[2]
        pixels = images
        labelBytes = labels
    }

    /// An IDX file (gzip'd or raw): big-endian magic `0x0000 08 NN` (unsigned bytes, NN dims),
    /// then NN big-endian UInt32 sizes, then the data.
    static func readIDX(_ url: URL, expectedMagic: UInt32) throws -> (dims: [Int], data: [UInt8]) {
        let raw = try JPEG.readFile(url)
        let bytes: [UInt8] = raw.starts(with: [0x1F, 0x8B]) ? try Gzip.decompress(raw, path: url.path) : [UInt8](raw)
        func be32(_ at: Int) -> UInt32 {
            UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3])
        }
        guard bytes.count >= 8, be32(0) == expectedMagic else {
            let magic = bytes.count >= 4 ? String(format: "0x%08x", be32(0)) : "none"
            throw DataError.badIDX(
                path: url.path, detail: "magic \(magic), expected \(String(format: "0x%08x", expectedMagic))")
        }
        let n = Int(expectedMagic & 0xFF)
        guard bytes.count >= 4 + 4 * n else { throw DataError.badIDX(path: url.path, detail: "header cut short") }
        let dims = (0..<n).map { Int(be32(4 + 4 * $0)) }
        let start = 4 + 4 * n
        let total = dims.reduce(1, *)
        guard bytes.count - start == total else {
            throw DataError.badIDX(
                path: url.path, detail: "\(bytes.count - start) data bytes, dims \(dims) need \(total)")
        }
        return (dims, Array(bytes[start...]))
    }

    /// Indices of the first `perClass` items of each wanted class, in file order (all when nil).
    public func indices(classes: [Int]? = nil, perClass: Int? = nil) -> [Int] {
        let wanted = Set(classes ?? Array(0..<10))
        var taken = [Int](repeating: 0, count: 10)
        var out: [Int] = []
        for i in 0..<count {
            let l = label(i)
            guard wanted.contains(l) else { continue }
            if let perClass, taken[l] >= perClass { continue }
            taken[l] += 1
            out.append(i)
        }
        return out
    }

    /// Resolves a class given by index ("3"), standard name ("Dress", case-insensitive) or folder
    /// name ("ankle-boot").
    public static func classIndex(_ name: String) -> Int? {
        if let i = Int(name), (0..<10).contains(i) { return i }
        let lower = name.lowercased()
        if let i = standardClassNames.firstIndex(where: { $0.lowercased() == lower }) { return i }
        return folderNames.firstIndex(of: lower)
    }

    /// Writes items as a JPEG ImageFolder: `directory/<folder name>/<split>-<index>.jpg`, each file
    /// written atomically (temporary file, then rename).
    /// - Parameters:
    ///   - directory: the ImageFolder's root, created if needed.
    ///   - indices: the items to write.
    ///   - quality: JPEG quality, 1...100.
    ///   - size: output side in pixels (Pillow bilinear upscale); 0 keeps 28.
    ///   - rgb: three-channel JPEGs; otherwise single-channel grayscale.
    /// - Returns: the number of files written.
    @discardableResult
    public func exportImageFolder(
        to directory: URL, indices: [Int], size: Int = 0, rgb: Bool = false,
        quality: Int = 90
    ) throws -> Int {
        let fm = FileManager.default
        var made = Set<Int>()
        for i in indices {
            let l = label(i)
            let folder = directory.appendingPathComponent(Self.folderNames[l])
            if !made.contains(l) {
                do {
                    try fm.createDirectory(at: folder, withIntermediateDirectories: true)
                } catch {
                    throw DataError.io(path: folder.path, detail: "cannot create folder", cause: ErrorCause(error))
                }
                made.insert(l)
            }
            var image = try loadImage(i)
            if size > 0 && size != image.width { image = image.resizedBilinear(width: size, height: size) }
            let data = try JPEG.encode(image, quality: quality, grayscale: !rgb)
            let url = folder.appendingPathComponent("\(split.rawValue)-" + String(format: "%05d", i) + ".jpg")
            do {
                try data.write(to: url, options: .atomic)
            } catch {
                throw DataError.io(path: url.path, detail: "cannot write", cause: ErrorCause(error))
            }
        }
        return indices.count
    }
}
