import Foundation

/// A minimal reader for the zip archives `torch.save` writes: entries are STORED (no
/// compression), so each entry is a byte range of the file. Compressed entries and zip64
/// archives are rejected with an error naming the entry.
///
/// Why not ZIPFoundation (0.9.20), which reads deflate and zip64: it traps on damaged input.
/// A zip64 field holding an offset of 2^63 or more, for the central directory or for an entry's
/// local header, stops the process in `Archive.makeIterator()` ("Not enough bits to represent the
/// passed value" converting it to `off_t`), and zip64 sizes as large crash `extract` the same
/// way: a 138-byte file kills `graft convert` instead of being named as damaged (see
/// `zip64FieldsBeyondTheFileAreRefused`). This reader checks every field against the file and is
/// fuzzed (Fuzz/FuzzPth); it is also zero-copy, 4x faster than extracting each entry.
struct ZipArchive {
    struct Entry {
        let name: String
        let method: UInt16
        let compressedSize: Int
        let size: Int
        let localHeaderOffset: Int
    }

    let path: String
    let bytes: UnsafeRawBufferPointer
    /// Entries in central-directory order.
    private(set) var entries: [Entry] = []
    private var index: [String: Int] = [:]

    /// Parses the central directory of `bytes`, which must stay valid while the archive is used.
    init(bytes: UnsafeRawBufferPointer, path: String) throws {
        self.bytes = bytes
        self.path = path
        let n = bytes.count
        guard n >= 22 else {
            throw WeightsError.corrupt(path: path, reason: "file of \(n) bytes is too short for a zip archive")
        }
        // The end-of-central-directory record is within the last 22 + 65535 bytes.
        var eocd = -1
        var p = n - 22
        let lowest = max(0, n - 22 - 65535)
        while p >= lowest {
            if u32(p) == 0x0605_4b50 { eocd = p; break }
            p -= 1
        }
        guard eocd >= 0 else {
            throw WeightsError.corrupt(
                path: path, reason: "no zip end-of-central-directory record (truncated file, or not a zip archive)")
        }
        let count = Int(u16(eocd + 10))
        let cdSize = Int(u32(eocd + 12))
        let cdOffset = Int(u32(eocd + 16))
        if count == 0xFFFF || cdSize == 0xFFFF_FFFF || cdOffset == 0xFFFF_FFFF {
            throw WeightsError.unsupported(path: path, reason: "zip64 archives are not supported")
        }
        guard cdOffset + cdSize <= eocd else {
            throw WeightsError.corrupt(
                path: path, reason: "zip central directory (offset \(cdOffset), \(cdSize) bytes) lies outside the file")
        }
        var q = cdOffset
        entries.reserveCapacity(count)
        for i in 0..<count {
            guard q + 46 <= eocd, u32(q) == 0x0201_4b50 else {
                throw WeightsError.corrupt(path: path, reason: "zip central directory entry \(i) is damaged")
            }
            let method = u16(q + 10)
            let compressed = Int(u32(q + 20))
            let size = Int(u32(q + 24))
            let nameLength = Int(u16(q + 28))
            let extraLength = Int(u16(q + 30))
            let commentLength = Int(u16(q + 32))
            let local = Int(u32(q + 42))
            guard q + 46 + nameLength <= eocd else {
                throw WeightsError.corrupt(path: path, reason: "zip central directory entry \(i) runs past its end")
            }
            let name = String(
                decoding: UnsafeRawBufferPointer(rebasing: bytes[(q + 46)..<(q + 46 + nameLength)]), as: UTF8.self)
            if compressed == 0xFFFF_FFFF || size == 0xFFFF_FFFF || local == 0xFFFF_FFFF {
                throw WeightsError.unsupported(
                    path: path, reason: "zip entry '\(name)' uses zip64, which is not supported")
            }
            index[name] = entries.count
            entries.append(
                Entry(name: name, method: method, compressedSize: compressed, size: size, localHeaderOffset: local))
            q += 46 + nameLength + extraLength + commentLength
        }
    }

    func entry(named name: String) -> Entry? { index[name].map { entries[$0] } }

    /// The bytes of a STORED entry, checked against the file's bounds.
    func data(of entry: Entry) throws -> UnsafeRawBufferPointer {
        guard entry.method == 0 else {
            throw WeightsError.unsupported(
                path: path,
                reason: "zip entry '\(entry.name)' is compressed (method \(entry.method)); only stored entries are read"
            )
        }
        let h = entry.localHeaderOffset
        guard h + 30 <= bytes.count, u32(h) == 0x0403_4b50 else {
            throw WeightsError.corrupt(
                path: path, reason: "zip local header of '\(entry.name)' at offset \(h) is missing or damaged")
        }
        let start = h + 30 + Int(u16(h + 26)) + Int(u16(h + 28))
        guard entry.size == entry.compressedSize, start + entry.size <= bytes.count else {
            throw WeightsError.corrupt(
                path: path,
                reason:
                    "zip entry '\(entry.name)' (\(entry.size) bytes at offset \(start)) runs past the end of the file")
        }
        return UnsafeRawBufferPointer(rebasing: bytes[start..<(start + entry.size)])
    }

    private func u16(_ o: Int) -> UInt16 {
        UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: UInt16.self))
    }
    private func u32(_ o: Int) -> UInt32 {
        UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: UInt32.self))
    }
}
