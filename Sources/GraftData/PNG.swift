import CPNG
import Foundation

/// What a PNG header (IHDR, with PLTE and tRNS when present) says.
public struct PNGInfo: Sendable, Equatable {
    /// The PNG colour types.
    public enum ColorType: Int, Sendable {
        /// Grey samples (1, 2, 4, 8 or 16 bits).
        case gray = 0
        /// Red, green and blue samples (8 or 16 bits).
        case rgb = 2
        /// Palette indices (1, 2, 4 or 8 bits) into PLTE.
        case palette = 3
        /// Grey and alpha samples (8 or 16 bits).
        case grayAlpha = 4
        /// Red, green, blue and alpha samples (8 or 16 bits).
        case rgba = 6
    }
    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    /// Bits per sample: 1, 2, 4, 8 or 16.
    public var bitDepth: Int
    /// The colour type of the stored samples.
    public var colorType: ColorType
    /// Adam7 interlacing.
    public var interlaced: Bool
    /// Entries of the palette (PLTE); 0 when there is none.
    public var paletteEntries: Int
    /// A tRNS chunk is present (the conversion to RGB ignores it, as Pillow's does).
    public var hasTransparency: Bool
}

/// PNG decoding over libpng, to the pixels Pillow gives for `Image.open(f).convert("RGB")`.
///
/// libpng parses, inflates, unfilters and de-interlaces; the conversion to 8-bit RGB follows
/// Pillow's modes and converters (checked pixel for pixel against Pillow in
/// `Tests/Fixtures/png`, made by `scripts/make-png-fixtures.py`):
/// - grey at 1, 2 or 4 bits is scaled to 0...255 (Pillow's modes `1` and `L`);
/// - 16-bit grey is clipped, not scaled: Pillow opens it as mode `I;16`, and its conversion to
///   RGB takes `min(value, 255)`, so values above 255 all become white;
/// - 16-bit colour and 16-bit grey + alpha keep the high byte of each sample (Pillow's
///   `RGB;16B`, `RGBA;16B` and `LA;16B` unpackers);
/// - alpha is dropped, never composited onto a background, and tRNS is ignored;
/// - a palette index past the last PLTE entry gives black (Pillow's palette starts black);
/// - gamma, colour profiles and sBIT are not applied to the samples.
///
/// EXIF orientation (an eXIf chunk) is not applied: `JPEGDecodeOptions.applyOrientation` concerns
/// JPEGs only.
public enum PNG {
    /// The eight bytes every PNG starts with.
    public static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// The most pixels a PNG may have to be decoded: the same limit as JPEG's (Pillow's
    /// decompression-bomb limit), as the header alone sets the size of the pixel buffer.
    public static let maximumPixels = JPEG.maximumPixels

    /// True when `bytes` start with the PNG signature.
    static func hasSignature(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= signature.count && zip(bytes, signature).allSatisfy { $0 == $1 }
    }

    private static func error(status: Int32, message: String, path: String, bytes: UnsafeRawBufferPointer) -> DataError
    {
        switch UInt32(bitPattern: status) {
        case GRAFT_PNG_EMPTY.rawValue: return .emptyFile(path: path)
        case GRAFT_PNG_NOT_PNG.rawValue:
            if bytes.count >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF {
                return .formatMismatch(path: path, found: "JPEG", expected: "PNG")
            }
            if let format = JPEG.sniffOtherFormat(bytes) { return .unsupportedFormat(path: path, format: format) }
            return .notAnImage(path: path, detail: JPEG.describeNonImage(bytes, missing: "no PNG signature"))
        case GRAFT_PNG_TRUNCATED.rawValue: return .truncated(path: path, detail: "PNG: \(message)")
        default: return .corrupt(path: path, detail: "PNG: \(message)")
        }
    }

    private static func info(_ c: graft_png_info) -> PNGInfo {
        PNGInfo(
            width: Int(c.width), height: Int(c.height), bitDepth: Int(c.bit_depth),
            colorType: PNGInfo.ColorType(rawValue: Int(c.color_type)) ?? .rgb, interlaced: c.interlaced != 0,
            paletteEntries: Int(c.palette_entries), hasTransparency: c.has_transparency != 0)
    }

    /// Reads the chunks before the image data: size, bit depth, colour type, palette.
    /// - Parameters:
    ///   - data: the file's bytes (the image data itself may be missing).
    ///   - path: used in error messages only.
    /// - Throws: `DataError` naming `path`: empty, not a PNG (a JPEG or another format named),
    ///   truncated or corrupt header.
    public static func probe(_ data: UnsafeRawBufferPointer, path: String = "<memory>") throws -> PNGInfo {
        var c = graft_png_info()
        var message = [CChar](repeating: 0, count: 256)
        let status = graft_png_decode(
            data.baseAddress?.assumingMemoryBound(to: UInt8.self), data.count, &c, nil, 0, &message, message.count)
        guard status == 0 else {
            throw error(status: status, message: cMessage(message), path: path, bytes: data)
        }
        return info(c)
    }

    /// Decodes to RGB (HWC), as Pillow's `convert("RGB")` does (see `PNG`).
    /// - Parameters:
    ///   - data: the file's bytes.
    ///   - path: used in error messages only.
    /// - Throws: `DataError` naming `path`: empty, not a PNG, truncated, corrupt (a wrong CRC on a
    ///   chunk before the image data, image data that fails zlib's check or runs short), or more
    ///   than `maximumPixels` pixels. As in Pillow, a wrong CRC on the image data (IDAT) is ignored.
    public static func decode(_ data: UnsafeRawBufferPointer, path: String = "<memory>") throws -> RGB8Image {
        let header = try probe(data, path: path)
        guard header.width * header.height <= maximumPixels else {
            throw DataError.corrupt(
                path: path,
                detail:
                    "PNG of \(header.width) × \(header.height) pixels is larger than the limit of \(maximumPixels) pixels (Pillow's decompression-bomb limit); not decoded"
            )
        }
        let bytes = header.width * header.height * 3
        return try RGB8Image(width: header.width, height: header.height) { out in
            var c = graft_png_info()
            var message = [CChar](repeating: 0, count: 256)
            let status = graft_png_decode(
                data.baseAddress?.assumingMemoryBound(to: UInt8.self), data.count, &c, out, bytes, &message,
                message.count)
            guard status == 0 else {
                throw error(status: status, message: cMessage(message), path: path, bytes: data)
            }
        }
    }

    /// Decodes PNG bytes held in `data`.
    /// - Parameters:
    ///   - data: the file's bytes.
    ///   - path: used in error messages only.
    /// - Throws: `DataError` naming `path`, as `decode(_:path:)` with a buffer.
    public static func decode(_ data: Data, path: String = "<memory>") throws -> RGB8Image {
        try data.withUnsafeBytes { try decode($0, path: path) }
    }

    /// Reads and decodes a file.
    /// - Parameter url: the PNG file.
    /// - Throws: `DataError` naming the file: unreadable, empty, not a PNG, truncated or corrupt.
    public static func decode(contentsOf url: URL) throws -> RGB8Image {
        try decode(try JPEG.readFile(url), path: url.path)
    }
}
