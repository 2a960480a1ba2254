import Foundation
import CJPEG
import GraftSupport

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

    /// Resize(shorterSide) → CenterCrop(width × height) fused into the decode: only the part of the
    /// photo the crop's filter taps read is decoded (columns outside it skip the IDCT, upsampling
    /// and colour conversion; rows below it are not decoded at all), and the result is the
    /// cropped image — pixel for pixel what decoding everything and then running the two
    /// transforms gives.
    public var resizeAndCenterCrop: ResizeAndCenterCrop?

    public struct ResizeAndCenterCrop: Sendable, Equatable, Codable {
        public var shorterSide: Int, width: Int, height: Int
        public init(shorterSide: Int, width: Int, height: Int) {
            self.shorterSide = shorterSide
            self.width = width
            self.height = height
        }
    }

    public init(
        applyOrientation: Bool = true, minimumShortSide: Int = 0,
        resizeAndCenterCrop: ResizeAndCenterCrop? = nil
    ) {
        self.applyOrientation = applyOrientation
        self.minimumShortSide = minimumShortSide
        self.resizeAndCenterCrop = resizeAndCenterCrop
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
            && bytes[8] == 0x57 && bytes[9] == 0x45 && bytes[10] == 0x42 && bytes[11] == 0x50
        {
            return "WebP"
        }
        if bytes.count >= 12 && bytes[4] == 0x66 && bytes[5] == 0x74 && bytes[6] == 0x79 && bytes[7] == 0x70 {
            return "HEIF/AVIF (ISO media)"
        }
        return nil
    }

    /// Describes bytes that are neither JPEG nor a known image format; `missing` says what the
    /// bytes lack when they are not text either.
    static func describeNonImage(
        _ bytes: UnsafeRawBufferPointer, missing: String = "no JPEG start-of-image marker"
    ) -> String {
        let head = bytes.prefix(256)
        let printable = head.filter { ($0 >= 0x20 && $0 < 0x7F) || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
        if !head.isEmpty && printable.count == head.count {
            let text = String(decoding: head.prefix(40), as: UTF8.self)
                .replacingOccurrences(of: "\n", with: " ").trimmingCharacters(in: .whitespaces)
            return "plain text (\"\(text)\(head.count > 40 ? "…" : "")\")"
        }
        let hex = bytes.prefix(4).map { String(format: "%02x", $0) }.joined(separator: " ")
        return "\(missing) (starts with \(hex))"
    }

    private static func error(
        status: Int32, message: String, path: String,
        bytes: UnsafeRawBufferPointer
    ) -> DataError {
        switch UInt32(bitPattern: status) {
        case GRAFT_JPEG_EMPTY.rawValue: return .emptyFile(path: path)
        case GRAFT_JPEG_NOT_JPEG.rawValue:
            if let format = sniffOtherFormat(bytes) {
                return format == "PNG"
                    ? .formatMismatch(path: path, found: format, expected: "JPEG")
                    : .unsupportedFormat(path: path, format: format)
            }
            return .notAnImage(path: path, detail: describeNonImage(bytes))
        case GRAFT_JPEG_TRUNCATED.rawValue: return .truncated(path: path, detail: message)
        case GRAFT_JPEG_UNSUPPORTED.rawValue: return .unsupportedColorSpace(path: path, detail: message)
        default: return .corrupt(path: path, detail: message)
        }
    }

    private static func cOptions(_ options: JPEGDecodeOptions) -> graft_jpeg_options {
        graft_jpeg_options(
            apply_orientation: options.applyOrientation ? 1 : 0,
            min_short_side: Int32(clamping: max(0, options.minimumShortSide)),
            crop_x: 0, crop_y: 0, crop_width: 0, crop_height: 0)
    }

    private static func info(_ c: graft_jpeg_info) -> JPEGInfo {
        let space: JPEGInfo.ColorSpace =
            switch UInt32(c.colorspace) {
            case GRAFT_JPEG_CS_GRAY.rawValue: .gray
            case GRAFT_JPEG_CS_RGB.rawValue: .rgb
            case GRAFT_JPEG_CS_CMYK.rawValue: .cmyk
            case GRAFT_JPEG_CS_YCCK.rawValue: .ycck
            default: .other
            }
        return JPEGInfo(
            storedWidth: Int(c.stored_width), storedHeight: Int(c.stored_height),
            components: Int(c.components), colorSpace: space, progressive: c.progressive != 0,
            orientation: Int(c.orientation), scaleDenominator: Int(c.scale_denom),
            width: Int(c.width), height: Int(c.height))
    }

    /// Reads only the header: size, components, colour space, orientation.
    /// - Parameter data: the file's bytes.
    /// - Parameter options: how the image would be decoded: the size reported is the decoded one.
    /// - Parameter path: used in error messages only.
    /// - Throws: `DataError` naming `path` (empty, not an image, PNG, corrupt header).
    public static func probe(
        _ data: UnsafeRawBufferPointer, options: JPEGDecodeOptions = .init(),
        path: String = "<memory>"
    ) throws -> JPEGInfo {
        var c = graft_jpeg_info()
        var opts = cOptions(options)
        var message = [CChar](repeating: 0, count: 256)
        let status = graft_jpeg_decode(
            data.baseAddress?.assumingMemoryBound(to: UInt8.self), data.count,
            &opts, &c, nil, 0, &message, message.count)
        guard status == 0 else {
            throw error(status: status, message: cMessage(message), path: path, bytes: data)
        }
        return info(c)
    }

    /// The most pixels (stored width × height) a JPEG may have to be decoded: Pillow's limit, above
    /// which `Image.open` raises `DecompressionBombError` (twice its `MAX_IMAGE_PIXELS`). The
    /// header alone sets the size of the pixel buffer, so a few damaged bytes could otherwise
    /// ask for up to 12 GiB (65535 × 65535 × 3).
    public static let maximumPixels = 2 * 89_478_485

    /// Decodes to RGB (HWC). Grayscale is copied to three channels; CMYK/YCCK convert as Pillow does.
    /// - Throws: `DataError` naming `path`: empty, truncated, corrupt, PNG or other non-JPEG, or
    ///   more than `maximumPixels` pixels.
    public static func decode(
        _ data: UnsafeRawBufferPointer, options: JPEGDecodeOptions = .init(),
        path: String = "<memory>"
    ) throws -> RGB8Image {
        let header = try probe(data, options: options, path: path)
        guard header.storedWidth * header.storedHeight <= maximumPixels else {
            throw DataError.corrupt(
                path: path,
                detail:
                    "image of \(header.storedWidth) × \(header.storedHeight) pixels is larger than the limit of \(maximumPixels) pixels (Pillow's decompression-bomb limit); not decoded"
            )
        }
        guard let fused = options.resizeAndCenterCrop else {
            return try decode(data, header: header, options: options, crop: nil, path: path)
        }
        let (w, h) = RGB8Image.resizedSize(width: header.width, height: header.height, shorterSide: fused.shorterSide)
        let upright = header.orientation == 1 || !options.applyOrientation
        guard upright, fused.width <= w, fused.height <= h else {
            // The crop pads, or the pixels get rotated: decode everything, then the plain transforms.
            let full = try decode(data, header: header, options: options, crop: nil, path: path)
            return full.resized(shorterSide: fused.shorterSide).centerCropped(width: fused.width, height: fused.height)
        }
        let o = RGB8Image.centerCropOrigin(width: w, height: h, cropWidth: fused.width, cropHeight: fused.height)
        let window = (x: o.x, y: o.y, width: fused.width, height: fused.height)
        let needed = RGB8Image.sourceRectangle(
            width: header.width, height: header.height, outW: w, outH: h,
            window: window)
        // The decoded part is used once, right away: decode into this thread's reusable buffer
        // rather than fresh memory for every photo.
        let bytes = header.width * header.height * 3
        let scratch = DecodeScratch.buffer(bytes: bytes)
        let c = try decode(data, options: options, crop: needed, into: scratch, capacity: bytes, path: path)
        return RGB8Image.resizedBilinear(
            scratch, width: Int(c.region_width), height: Int(c.region_height), to: w, h,
            region: (0, 0, header.width, header.height), window: window,
            origin: (Int(c.region_x), Int(c.region_y)), frame: (header.width, header.height))
    }

    /// Decodes the image, or with `crop` a rectangle at least that large; returns the pixels and
    /// where they lie in the whole image.
    private static func decode(
        _ data: UnsafeRawBufferPointer, header: JPEGInfo, options: JPEGDecodeOptions,
        crop: (x: Int, y: Int, width: Int, height: Int)?, path: String
    ) throws -> RGB8Image {
        var c = graft_jpeg_info()
        let bytes = header.width * header.height * 3
        let pixels = try [UInt8](unsafeUninitializedCapacity: max(bytes, 1)) { buffer, initialized in
            c = try decode(data, options: options, crop: crop, into: buffer.baseAddress!, capacity: bytes, path: path)
            initialized = Int(c.region_width) * Int(c.region_height) * 3
        }
        return RGB8Image(width: Int(c.region_width), height: Int(c.region_height), pixels: pixels)
    }

    /// Decodes into `out` (room for the whole image), or with `crop` a rectangle at least that
    /// large; the info's region fields say which part of the image `out` holds.
    private static func decode(
        _ data: UnsafeRawBufferPointer, options: JPEGDecodeOptions,
        crop: (x: Int, y: Int, width: Int, height: Int)?, into out: UnsafeMutablePointer<UInt8>,
        capacity: Int, path: String
    ) throws -> graft_jpeg_info {
        var c = graft_jpeg_info()
        var opts = cOptions(options)
        if let crop {
            opts.crop_x = Int32(crop.x)
            opts.crop_y = Int32(crop.y)
            opts.crop_width = Int32(crop.width)
            opts.crop_height = Int32(crop.height)
        }
        var message = [CChar](repeating: 0, count: 256)
        let status = graft_jpeg_decode(
            data.baseAddress?.assumingMemoryBound(to: UInt8.self), data.count,
            &opts, &c, out, capacity, &message, message.count)
        guard status == 0 else {
            throw error(status: status, message: cMessage(message), path: path, bytes: data)
        }
        return c
    }

    public static func decode(
        _ data: Data, options: JPEGDecodeOptions = .init(), path: String = "<memory>"
    ) throws -> RGB8Image {
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
            throw DataError.io(path: url.path, detail: "cannot read", cause: ErrorCause(error))
        }
    }

    /// Encodes an image as a baseline JPEG (4:2:0 for colour, libjpeg's defaults).
    /// - Parameters:
    ///   - image: the pixels to encode.
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
            status = graft_jpeg_encode(
                gray, Int32(image.width), Int32(image.height), 1, Int32(quality),
                &out, &size, &message, message.count)
        } else {
            status = graft_jpeg_encode(
                image.pixels, Int32(image.width), Int32(image.height), 3, Int32(quality),
                &out, &size, &message, message.count)
        }
        guard status == 0, let out else {
            throw DataError.encodeFailed(path: "<memory>", detail: cMessage(message))
        }
        defer { graft_free(out) }
        return Data(bytes: out, count: size)
    }
}

/// Per-thread reusable memory for decoded photos that are consumed at once (a decode fused with
/// resize and crop): a fresh buffer per photo would fault fresh zeroed pages in every time
/// (~10% of the JPEG pipeline).
enum DecodeScratch {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { free($0) }
        return key
    }()

    private static let header = 64

    /// At least `bytes` of memory owned by the calling thread, valid until its next call.
    static func buffer(bytes: Int) -> UnsafeMutablePointer<UInt8> {
        if let block = pthread_getspecific(key) {
            if block.load(as: Int.self) >= bytes { return (block + header).assumingMemoryBound(to: UInt8.self) }
            free(block)
        }
        guard let block = malloc(bytes + header) else { fatalError("out of memory for a \(bytes)-byte decode") }
        block.storeBytes(of: bytes, as: Int.self)
        pthread_setspecific(key, block)
        return (block + header).bindMemory(to: UInt8.self, capacity: bytes)
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
            graft_gunzip(
                raw.baseAddress?.assumingMemoryBound(to: UInt8.self), raw.count, &out, &size,
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
