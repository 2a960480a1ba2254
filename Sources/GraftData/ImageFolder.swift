import Foundation
import GraftSupport

/// A folder of JPEG and PNG images with one subfolder per class, read as torchvision's
/// `ImageFolder` reads it: classes are the subfolder names sorted by code point (label =
/// position), samples are sorted by folder path then file name, nested folders included.
///
/// Differences, on purpose: hidden entries (names starting with ".") are skipped at every level,
/// hidden class folders included; files are listed only with image extensions; and every candidate
/// file's header is probed during the scan, so empty files, text, other formats (GIF, WebP…) and
/// corrupt headers are reported once (in `unreadable`) and left out. Each file is decoded as what
/// its first bytes say it is (`ImageFile`), so a PNG named `.jpg` reads as the PNG it is. Damage
/// past the header (a truncated file) shows up at decode time, where the loader reports it once
/// and skips it, or at once with `verify`, which decodes every file through to its last byte.
public struct ImageFolder: Dataset {
    /// Extensions that are listed as images (lowercased, as torchvision's plus JPEG's aliases).
    public static let imageExtensions: Set<String> = [
        "jpg", "jpeg", "jpe", "jfif", "png", "ppm", "bmp", "pgm", "tif", "tiff", "webp", "gif",
    ]

    public struct Sample: Sendable, Equatable, Codable {
        /// Path relative to the root, "/"-separated.
        public var path: String
        public var label: Int
        /// Size as probed (after EXIF orientation); 0 when the scan did not probe.
        public var width: Int
        public var height: Int
    }

    public struct Unreadable: Sendable, Equatable {
        public var path: String
        public var reason: String
    }

    public let root: URL
    public let classNames: [String]
    public let samples: [Sample]
    /// Hidden and non-image entries that were ignored, relative paths.
    public let skipped: [String]
    /// Image files the scan could not read, with the reason.
    public let unreadable: [Unreadable]
    /// How samples are decoded (orientation on by default).
    public var decodeOptions: JPEGDecodeOptions

    public var classToIndex: [String: Int] {
        Dictionary(uniqueKeysWithValues: classNames.enumerated().map { ($1, $0) })
    }

    public var count: Int { samples.count }
    public func label(_ index: Int) -> Int { samples[index].label }
    public func itemName(_ index: Int) -> String { samples[index].path }
    public func url(_ index: Int) -> URL { root.appendingPathComponent(samples[index].path) }

    public func loadImage(_ index: Int, options: JPEGDecodeOptions) throws -> RGB8Image {
        try ImageFile.decode(contentsOf: url(index), options: options)
    }

    public var decodesJPEG: Bool { true }

    /// Scans `root`.
    /// - Parameters:
    ///   - root: the folder holding one subfolder of JPEG or PNG images per class.
    ///   - decodeOptions: how `probe` and `verify` decode.
    ///   - probe: read each file's header (parallel, 2 threads) and leave out unreadable ones.
    ///   - verify: also decode each file whole (a JPEG at libjpeg's 1/8 DCT scale: every byte of
    ///     entropy-coded data is still read, little IDCT work), so truncated or corrupt data is
    ///     found now.
    /// - Throws: `DataError.emptyDataset` when there are no class folders or no images at all;
    ///   `DataError.io` when `root` cannot be listed.
    public init(root: URL, probe: Bool = true, verify: Bool = false, decodeOptions: JPEGDecodeOptions = .init()) throws
    {
        self.root = root
        self.decodeOptions = decodeOptions
        let fm = FileManager.default
        var skipped: [String] = []
        func isDirectory(_ url: URL) -> Bool {
            var isDir: ObjCBool = false
            return fm.fileExists(atPath: url.path, isDirectory: &isDir) && isDir.boolValue
        }
        func list(_ url: URL) throws -> [String] {
            do {
                return try fm.contentsOfDirectory(atPath: url.path).sorted(by: codePointLess)
            } catch {
                throw DataError.io(path: url.path, detail: "cannot list folder", cause: ErrorCause(error))
            }
        }
        var classes: [String] = []
        for name in try list(root) {
            if name.hasPrefix(".") || !isDirectory(root.appendingPathComponent(name)) {
                skipped.append(name)
            } else {
                classes.append(name)
            }
        }
        guard !classes.isEmpty else {
            throw DataError.emptyDataset(
                path: root.path, detail: "no class subfolders (expected ROOT/<class>/<image>.jpg or .png)")
        }
        // (directory path relative to root, file name, label) gathered depth-first, then sorted as
        // torchvision sorts os.walk's tuples.
        var candidates: [(dir: String, file: String, label: Int)] = []
        for (label, cls) in classes.enumerated() {
            var stack = [cls]
            while let dir = stack.popLast() {
                for name in try list(root.appendingPathComponent(dir)) {
                    let rel = dir + "/" + name
                    if name.hasPrefix(".") { skipped.append(rel); continue }
                    if isDirectory(root.appendingPathComponent(rel)) { stack.append(rel); continue }
                    let ext = (name as NSString).pathExtension.lowercased()
                    if Self.imageExtensions.contains(ext) {
                        candidates.append((dir, name, label))
                    } else {
                        skipped.append(rel)
                    }
                }
            }
        }
        candidates.sort { a, b in
            a.label != b.label
                ? a.label < b.label
                : (a.dir != b.dir ? codePointLess(a.dir, b.dir) : codePointLess(a.file, b.file))
        }
        var samples = candidates.map { Sample(path: $0.dir + "/" + $0.file, label: $0.label, width: 0, height: 0) }
        var unreadable: [Unreadable] = []
        if probe || verify {
            let results = Self.probeAll(root: root, samples: samples, options: decodeOptions, verify: verify)
            var kept: [Sample] = []
            kept.reserveCapacity(samples.count)
            for (i, result) in results.enumerated() {
                switch result {
                case .success(let info):
                    var s = samples[i]
                    s.width = info.width
                    s.height = info.height
                    kept.append(s)
                case .failure(let error):
                    unreadable.append(
                        Unreadable(
                            path: samples[i].path,
                            reason: error.errorDescription ?? "\(error)"))
                }
            }
            samples = kept
        }
        guard !samples.isEmpty else {
            throw DataError.emptyDataset(
                path: root.path, detail: "no readable images in \(classes.count) class folders")
        }
        self.classNames = classes
        self.samples = samples
        self.skipped = skipped
        self.unreadable = unreadable
    }

    private static func probeAll(
        root: URL, samples: [Sample], options: JPEGDecodeOptions,
        verify: Bool
    ) -> [Result<ImageHeader, DataError>] {
        var scaled = options
        scaled.minimumShortSide = 1
        scaled.resizeAndCenterCrop = nil
        let smallest = scaled
        let results = ResultBox(count: samples.count)
        let workers = 2
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            for i in stride(from: w, to: samples.count, by: workers) {
                let url = root.appendingPathComponent(samples[i].path)
                do {
                    let info = try ImageFile.probe(contentsOf: url, options: options)
                    if verify { _ = try ImageFile.decode(contentsOf: url, options: smallest) }
                    results.set(i, .success(info))
                } catch let e as DataError {
                    results.set(i, .failure(e))
                } catch {
                    results.set(i, .failure(.io(path: url.path, detail: "\(error)")))
                }
            }
        }
        return results.values.map { $0 ?? .failure(.io(path: root.path, detail: "not probed")) }
    }
}

/// Results written by index from several threads (each index by exactly one thread).
private final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var values: [Result<ImageHeader, DataError>?]
    init(count: Int) { values = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ value: Result<ImageHeader, DataError>) {
        lock.lock()
        values[i] = value
        lock.unlock()
    }
}

/// Python's string order (by Unicode code point), not Swift's locale-free `<` on grapheme clusters.
func codePointLess(_ a: String, _ b: String) -> Bool {
    a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars)
}
