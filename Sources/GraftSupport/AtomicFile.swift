import Foundation

/// Crash-safe file replacement: write a temporary sibling, fsync it, rename it over the final
/// name, fsync the directory. After a crash at any moment the final path holds either the old
/// complete file or the new complete file, never a partial one; at worst a temporary sibling
/// is left behind, recognisable by its name (see `isTemporary`), which the catalog's `check`
/// reports and `repair` removes.
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
    /// there (any writer: HDF5, JSON, raw bytes) without replacing it atomically itself; it
    /// need not fsync.
    ///
    /// - Parameters:
    ///   - url: the final path; its directory is created if needed.
    ///   - beforeRename: runs after the temporary file is durable and before it takes the final
    ///     name (the catalog hashes the file and records its intent there).
    ///   - body: writes the temporary file.
    /// - Throws: what `body` or `beforeRename` throw, or `FileError` naming the file; the
    ///   temporary file is removed on failure.
    public static func write(
        to url: URL,
        beforeRename: (URL) throws -> Void = { _ in },
        _ body: (URL) throws -> Void
    ) throws {
        let dir = url.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        } catch {
            throw FileError(path: dir.path, operation: "create directory", code: posixCode(of: error))
        }
        let temp = temporaryURL(for: url)
        do {
            try body(temp)
            try fsyncFile(temp)
            try beforeRename(temp)
            if rename(temp.path, url.path) != 0 {
                throw FileError(path: url.path, operation: "rename", code: errno)
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
                throw FileError(path: temp.path, operation: "write", code: posixCode(of: error))
            }
        }
    }

    /// Flushes a file's data and metadata to stable storage.
    public static func fsyncFile(_ url: URL) throws {
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else { throw FileError(path: url.path, operation: "open", code: errno) }
        defer { close(fd) }
        if fsync(fd) != 0 { throw FileError(path: url.path, operation: "fsync", code: errno) }
    }

    /// Flushes a directory, so a rename or unlink in it survives a power loss.
    public static func fsyncDirectory(_ url: URL) throws {
        let fd = open(url.path, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { throw FileError(path: url.path, operation: "open directory", code: errno) }
        defer { close(fd) }
        if fsync(fd) != 0 { throw FileError(path: url.path, operation: "fsync directory", code: errno) }
    }

    /// The errno behind a Foundation error, EIO when it carries none.
    private static func posixCode(of error: Error) -> Int32 {
        let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
        for e in [error as NSError, underlying].compactMap({ $0 }) where e.domain == NSPOSIXErrorDomain {
            return Int32(e.code)
        }
        return EIO
    }
}
