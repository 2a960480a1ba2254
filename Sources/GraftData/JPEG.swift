import CJPEG
import Foundation

/// What a JPEG header says, and the size a decode with the same options produces.
public struct JPEGInfo: Sendable, Equatable {
    public enum ColorSpace: String, Sendable { case gray, rgb, cmyk, ycck, other }
    /// Size as stored in the file.
    public var storedWidth: Int
    public var storedHeight: Int
    public var components: Int
    public var colorSpace: ColorSpace
    public var progressive: Bool
    /// EXIF orientation 1...8 (1 when there is none).
    public var orientation: Int
    /// The DCT scale divisor chosen (1, 2, 4 or 8).
    public var scaleDenominator: Int
    /// Output size after DCT scaling and (if applied) orientation.
    public var width: Int
    public var height: Int
}

/// How to decode.
public struct JPEGDecodeOptions: Sendable, Equatable, Codable {
    /// Rotate/flip by the EXIF Orientation tag so the image comes out upright (as
    /// `ImageOps.exif_transpose` does). Graft's loaders default to `true`; torchvision's default
    /// loader and a plain `Image.open(f).convert("RGB")` do not, which is what `false` reproduces.
    public var applyOrientation: Bool
    /// 0 decodes at full size, bit-identical to Pillow. Otherwise libjpeg's DCT scaling (1/2, 1/4,
    /// 1/8) is used, picking the smallest output whose shorter side is still at least this long:
    /// much faster for photos far larger than the training size, at a small difference in pixels.
    public var minimumShortSide: Int

    public init(applyOrientation: Bool = true, minimumShortSide: Int = 0) {
        self.applyOrientation = applyOrientation
        self.minimumShortSide = minimumShortSide
    }
}

/// JPEG decoding and encoding over libjpeg-turbo (ISLOW IDCT, fancy upsampling: Pillow's decode).
public enum JPEG {
    /// Recognises a few formats by their first bytes, to say what a misnamed file really is.
    /// Returns `nil` for JPEG or anything unknown.
    static func sniffOtherFormat(_ bytes: UnsafeRawBufferPointer) -> String? {
        func starts(_ magic: [UInt8]) -> Bool {
            bytes.count >= magic.count && zip(bytes, magic).allSatisfy { $0 == $1 }
        }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return "PNG" }
        if starts(Array("GIF87a".utf8)) || starts(Array("GIF89a".utf8)) { return "GIF" }
        if starts(Array("BM".utf8)) && bytes.count >= 14 { return "BMP" }
        if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A]) { return "TIFF" }
        if bytes.count >= 12 && starts(Array("RIFF".utf8))
            && bytes[8] == 0x57 && bytes[9] == 0x45 && bytes[10] == 0x42 && bytes[11] == 0x50 { return "WebP" }
        if bytes.count >= 12 && bytes[4] == 0x66 && bytes[5] == 0x74 && bytes[6] == 0x79 && bytes[7] == 0x70 {
            return "HEIF/AVIF (ISO media)"
        }
        return nil
    }

    /// Describes bytes that are neither JPEG nor a known image format.
    static func describeNonImage(_ bytes: UnsafeRawBufferPointer) -> String {
        let head = bytes.prefix(256)
        let printable = head.filter { ($0 >= 0x20 && $0 < 0x7F) || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
        if !head.isEmpty && printable.count == head.count {
            let text = String(decoding: head.prefix(40), as: UTF8.self)
                .replacingOccurrences(of: "\n", with: " ").trimmingCharacters(in: .whitespaces)
            return "plain text (\"\(text)\(head.count > 40 ? "…" : "")\")"
        }
        let hex = bytes.prefix(4).map { String(format: "%02x", $0) }.joined(separator: " ")
        return "no JPEG start-of-image marker (starts with \(hex))"
    }

    private static func error(status: Int32, message: String, path: String,
                              bytes: UnsafeRawBufferPointer) -> DataError {
        switch UInt32(bitPattern: status) {
        case GRAFT_JPEG_EMPTY.rawValue: return .emptyFile(path: path)
        case GRAFT_JPEG_NOT_JPEG.rawValue:
            if let format = sniffOtherFormat(bytes) { return .unsupportedFormat(path: path, format: format) }
            return .notAnImage(path: path, detail: describeNonImage(bytes))
        case GRAFT_JPEG_TRUNCATED.rawValue: return .truncated(path: path, detail: message)
        case GRAFT_JPEG_UNSUPPORTED.rawValue: return .unsupportedColorSpace(path: path, detail: message)
        default: return .corrupt(path: path, detail: message)
        }
    }

    private static func cOptions(_ options: JPEGDecodeOptions) -> graft_jpeg_options {
        graft_jpeg_options(apply_orientation: options.applyOrientation ? 1 : 0,
                           min_short_side: Int32(clamping: max(0, options.minimumShortSide)))
    }

    private static func info(_ c: graft_jpeg_info) -> JPEGInfo {
        let space: JPEGInfo.ColorSpace = switch UInt32(c.colorspace) {
        case GRAFT_JPEG_CS_GRAY.rawValue: .gray
        case GRAFT_JPEG_CS_RGB.rawValue: .rgb
        case GRAFT_JPEG_CS_CMYK.rawValue: .cmyk
        case GRAFT_JPEG_CS_YCCK.rawValue: .ycck
        default: .other
        }
        return JPEGInfo(storedWidth: Int(c.stored_width), storedHeight: Int(c.stored_height),
                        components: Int(c.components), colorSpace: space, progressive: c.progressive != 0,
                        orientation: Int(c.orientation), scaleDenominator: Int(c.scale_denom),
                        width: Int(c.width), height: Int(c.height))
    }

    /// Reads only the header: size, components, colour space, orientation.
    /// - Parameter path: used in error messages only.
    /// - Throws: `DataError` naming `path` (empty, not an image, PNG, corrupt header).
    public static func probe(_ data: UnsafeRawBufferPointer, options: JPEGDecodeOptions = .init(),
                             path: String = "<memory>") throws -> JPEGInfo {
        var c = graft_jpeg_info()
        var opts = cOptions(options)
        var message = [CChar](repeating: 0, count: 256)
        let status = graft_jpeg_decode(data.baseAddress?.assumingMemoryBound(to: UInt8.self), data.count,
                                       &opts, &c, nil, 0, &message, message.count)
        guard status == 0 else {
            throw error(status: status, message: cMessage(message), path: path, bytes: data)
        }
        return info(c)
    }

    /// Decodes to RGB (HWC). Grayscale is copied to three channels; CMYK/YCCK convert as Pillow does.
    /// - Throws: `DataError` naming `path`: empty, truncated, corrupt, PNG or other non-JPEG.
    public static func decode(_ data: UnsafeRawBufferPointer, options: JPEGDecodeOptions = .init(),
                              path: String = "<memory>") throws -> RGB8Image {
        let header = try probe(data, options: options, path: path)
        var c = graft_jpeg_info()
        var opts = cOptions(options)
        var message = [CChar](repeating: 0, count: 256)
        var status: Int32 = 0
        let image = RGB8Image(width: header.width, height: header.height) { out in
            status = graft_jpeg_decode(data.baseAddress?.assumingMemoryBound(to: UInt8.self), data.count,
                                       &opts, &c, out, header.width * header.height * 3,
                                       &message, message.count)
        }
        guard status == 0 else {
            throw error(status: status, message: cMessage(message), path: path, bytes: data)
        }
        return image
    }

    public static func decode(_ data: Data, options: JPEGDecodeOptions = .init(), path: String = "<memory>") throws -> RGB8Image {
        try data.withUnsafeBytes { try decode($0, options: options, path: path) }
    }

    /// Reads and decodes a file.
    public static func decode(contentsOf url: URL, options: JPEGDecodeOptions = .init()) throws -> RGB8Image {
        let data = try readFile(url)
        return try decode(data, options: options, path: url.path)
    }

    /// Reads a file's header. Reads the first 64 KiB and, if the header runs on (large EXIF or
    /// ICC blocks), the whole file.
    public static func probe(contentsOf url: URL, options: JPEGDecodeOptions = .init()) throws -> JPEGInfo {
        let head = try readFile(url, limit: 65_536)
        do {
            return try head.withUnsafeBytes { try probe($0, options: options, path: url.path) }
        } catch DataError.truncated, DataError.corrupt {
            guard head.count == 65_536 else { throw DataError.truncated(path: url.path, detail: "header incomplete") }
            let all = try readFile(url)
            return try all.withUnsafeBytes { try probe($0, options: options, path: url.path) }
        }
    }

    static func readFile(_ url: URL, limit: Int? = nil) throws -> Data {
        do {
            let handle = try FileHandle(forReadingFrom: url)
            defer { try? handle.close() }
            if let limit { return try handle.read(upToCount: limit) ?? Data() }
            return try handle.readToEnd() ?? Data()
        } catch {
            throw DataError.io(path: url.path, detail: "cannot read: \(error.localizedDescription)")
        }
    }

    /// Encodes an image as a baseline JPEG (4:2:0 for colour, libjpeg's defaults).
    /// - Parameters:
    ///   - grayscale: write one channel (the R byte of each pixel, which equals G and B for a gray image).
    ///   - quality: 1...100.
    public static func encode(_ image: RGB8Image, quality: Int = 90, grayscale: Bool = false) throws -> Data {
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        var status: Int32 = 0
        if grayscale {
            var gray = [UInt8](repeating: 0, count: image.width * image.height)
            image.pixels.withUnsafeBufferPointer { src in
                for i in 0..<gray.count { gray[i] = src[3 * i] }
            }
            status = graft_jpeg_encode(gray, Int32(image.width), Int32(image.height), 1, Int32(quality),
                                       &out, &size, &message, message.count)
        } else {
            status = graft_jpeg_encode(image.pixels, Int32(image.width), Int32(image.height), 3, Int32(quality),
                                       &out, &size, &message, message.count)
        }
        guard status == 0, let out else {
            throw DataError.encodeFailed(path: "<memory>", detail: cMessage(message))
        }
        defer { graft_free(out) }
        return Data(bytes: out, count: size)
    }
}

/// gzip decompression (zlib).
public enum Gzip {
    /// Inflates a gzip or zlib stream.
    /// - Throws: `DataError.gzip` naming `path`.
    public static func decompress(_ data: Data, path: String = "<memory>") throws -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = data.withUnsafeBytes { raw in
            graft_gunzip(raw.baseAddress?.assumingMemoryBound(to: UInt8.self), raw.count, &out, &size,
                         &message, message.count)
        }
        guard status == 0, let out else { throw DataError.gzip(path: path, detail: cMessage(message)) }
        defer { graft_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: size))
    }
}

/// A C message buffer as a Swift string (up to its terminating zero).
func cMessage(_ buffer: [CChar]) -> String {
    let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}
