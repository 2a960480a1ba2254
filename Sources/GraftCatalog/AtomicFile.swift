import Foundation

/// Crash-safe file replacement: write a temporary sibling, fsync it, rename it over the final
/// name, fsync the directory. After a crash at any moment the final path holds either the old
/// complete file or the new complete file, never a partial one; at worst a temporary sibling
/// is left behind, recognisable by its name (see `isTemporary`).
public enum AtomicFile {
    /// Marker inside temporary names: `.<final name>.tmp-<pid>-<random>`.
    public static let marker = ".tmp-"

    /// The temporary sibling used while writing `url`.
    public static func temporaryURL(for url: URL) -> URL {
        let random = UInt32.random(in: 0...UInt32.max)
        let name = ".\(url.lastPathComponent)\(marker)\(getpid())-\(String(random, radix: 16))"
        return url.deletingLastPathComponent().appendingPathComponent(name)
    }

    /// Whether a file name is one of `temporaryURL`'s names.
    public static func isTemporary(_ name: String) -> Bool {
        name.hasPrefix(".") && name.contains(marker)
    }

    /// The final name a temporary name stands for, or nil when `name` is not temporary.
    public static func finalName(forTemporary name: String) -> String? {
        guard isTemporary(name), let range = name.range(of: marker, options: .backwards) else { return nil }
        return String(name[name.index(after: name.startIndex)..<range.lowerBound])
    }

    /// The process id recorded in a temporary name, if any.
    public static func writerPID(ofTemporary name: String) -> Int32? {
        guard let range = name.range(of: marker, options: .backwards) else { return nil }
        let rest = name[range.upperBound...]
        guard let dash = rest.firstIndex(of: "-") else { return nil }
        return Int32(rest[rest.startIndex..<dash])
    }

    /// Writes `url` atomically. `body` receives the temporary URL and must create the file
    /// there (any writer: HDF5, JSON, raw bytes); it need not fsync.
    ///
    /// - Parameters:
    ///   - url: the final path; its directory is created if needed.
    ///   - beforeRename: runs after the temporary file is durable and before it takes the final
    ///     name (the catalog records its intent there).
    ///   - body: writes the temporary file.
    /// - Throws: what `body` throws, or `CatalogError.io` naming the file; the temporary file
    ///   is removed on failure.
    public static func write(
        to url: URL,
        beforeRename: (URL) throws -> Void = { _ in },
        _ body: (URL) throws -> Void
    ) throws {
        let dir = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let temp = temporaryURL(for: url)
        do {
            try body(temp)
            try fsyncFile(temp)
            try beforeRename(temp)
            if rename(temp.path, url.path) != 0 {
                throw CatalogError.io(path: url.path, operation: "rename", errno: errno)
            }
        } catch {
            unlink(temp.path)
            throw error
        }
        try fsyncDirectory(dir)
    }

    /// Writes `data` to `url` atomically.
    public static func write(_ data: Data, to url: URL) throws {
        try write(to: url) { temp in
            do {
                try data.write(to: temp)
            } catch {
                throw CatalogError.io(path: temp.path, operation: "write", errno: EIO)
            }
        }
    }

    /// Flushes a file's data and metadata to stable storage.
    public static func fsyncFile(_ url: URL) throws {
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else { throw CatalogError.io(path: url.path, operation: "open", errno: errno) }
        defer { close(fd) }
        if fsync(fd) != 0 { throw CatalogError.io(path: url.path, operation: "fsync", errno: errno) }
    }

    /// Flushes a directory, so a rename or unlink in it survives a power loss.
    public static func fsyncDirectory(_ url: URL) throws {
        let fd = open(url.path, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { throw CatalogError.io(path: url.path, operation: "open directory", errno: errno) }
        defer { close(fd) }
        if fsync(fd) != 0 { throw CatalogError.io(path: url.path, operation: "fsync directory", errno: errno) }
    }
}
