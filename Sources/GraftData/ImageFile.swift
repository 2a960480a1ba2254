import Foundation

/// The image formats Graft decodes, told apart by a file's first bytes, whatever its name says.
public enum ImageFormat: String, Sendable, CaseIterable {
    /// JPEG, decoded by `JPEG` (libjpeg-turbo).
    case jpeg = "JPEG"
    /// PNG, decoded by `PNG` (libpng).
    case png = "PNG"

    /// The format `bytes` start with: JPEG's start-of-image marker (FF D8 FF) or PNG's signature;
    /// `nil` for anything else.
    /// - Parameter bytes: the first bytes of a file (at least 8 to recognise a PNG).
    public init?(sniffing bytes: UnsafeRawBufferPointer) {
        if bytes.count >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF {
            self = .jpeg
        } else if PNG.hasSignature(bytes) {
            self = .png
        } else {
            return nil
        }
    }
}

/// What an image file's header says, whatever its format.
public struct ImageHeader: Sendable, Equatable {
    /// The format the file's bytes are in.
    public var format: ImageFormat
    /// Width of the decoded image (for a JPEG: after DCT scaling and EXIF orientation).
    public var width: Int
    /// Height of the decoded image.
    public var height: Int

    /// - Parameters:
    ///   - format: the format the file's bytes are in.
    ///   - width: width of the decoded image.
    ///   - height: height of the decoded image.
    public init(format: ImageFormat, width: Int, height: Int) {
        self.format = format
        self.width = width
        self.height = height
    }
}

/// Image files in any format Graft reads (JPEG and PNG), each decoded by the decoder its first
/// bytes call for: what the scan, the loaders, `graft predict` and evaluation read images with.
///
/// JPEGs decode as `JPEG.decode` does, with every option. PNGs decode as `PNG.decode` does (the
/// orientation and DCT-scaling options concern JPEGs only); a fused Resize → CenterCrop is run on
/// the decoded image, giving the same pixels as the two transforms.
public enum ImageFile {
    /// The error for bytes that are neither a JPEG nor a PNG: empty, another known format, text,
    /// or anything else.
    static func unrecognised(_ bytes: UnsafeRawBufferPointer, path: String) -> DataError {
        if bytes.isEmpty { return .emptyFile(path: path) }
        if let format = JPEG.sniffOtherFormat(bytes) { return .unsupportedFormat(path: path, format: format) }
        return .notAnImage(path: path, detail: JPEG.describeNonImage(bytes, missing: "neither a JPEG nor a PNG"))
    }

    /// Reads the header of a JPEG or PNG.
    /// - Parameters:
    ///   - data: the file's first bytes, or all of them.
    ///   - options: how a JPEG would be decoded: the size reported is the decoded one.
    ///   - path: used in error messages only.
    /// - Throws: `DataError` naming `path`: empty, another format, not an image, corrupt header.
    public static func probe(
        _ data: UnsafeRawBufferPointer, options: JPEGDecodeOptions = .init(), path: String = "<memory>"
    ) throws -> ImageHeader {
        switch ImageFormat(sniffing: data) {
        case .jpeg:
            let info = try JPEG.probe(data, options: options, path: path)
            return ImageHeader(format: .jpeg, width: info.width, height: info.height)
        case .png:
            let info = try PNG.probe(data, path: path)
            return ImageHeader(format: .png, width: info.width, height: info.height)
        case nil:
            throw unrecognised(data, path: path)
        }
    }

    /// Reads a file's header: its first 64 KiB and, if the header runs on (large EXIF, ICC or text
    /// chunks), the whole file.
    /// - Parameters:
    ///   - url: the image file.
    ///   - options: how a JPEG would be decoded: the size reported is the decoded one.
    /// - Throws: `DataError` naming the file: unreadable, empty, another format, not an image,
    ///   corrupt header.
    public static func probe(contentsOf url: URL, options: JPEGDecodeOptions = .init()) throws -> ImageHeader {
        let head = try JPEG.readFile(url, limit: 65_536)
        do {
            return try head.withUnsafeBytes { try probe($0, options: options, path: url.path) }
        } catch DataError.truncated, DataError.corrupt {
            guard head.count == 65_536 else { throw DataError.truncated(path: url.path, detail: "header incomplete") }
            let all = try JPEG.readFile(url)
            return try all.withUnsafeBytes { try probe($0, options: options, path: url.path) }
        }
    }

    /// Decodes a JPEG or PNG to RGB (HWC).
    /// - Parameters:
    ///   - data: the file's bytes.
    ///   - options: how a JPEG is decoded; a PNG honours only `resizeAndCenterCrop`.
    ///   - path: used in error messages only.
    /// - Throws: `DataError` naming `path`: empty, another format, not an image, truncated,
    ///   corrupt, or larger than the decoders' pixel limit.
    public static func decode(
        _ data: UnsafeRawBufferPointer, options: JPEGDecodeOptions = .init(), path: String = "<memory>"
    ) throws -> RGB8Image {
        switch ImageFormat(sniffing: data) {
        case .jpeg:
            return try JPEG.decode(data, options: options, path: path)
        case .png:
            let image = try PNG.decode(data, path: path)
            guard let fused = options.resizeAndCenterCrop else { return image }
            return resizedAndCenterCropped(image, fused)
        case nil:
            throw unrecognised(data, path: path)
        }
    }

    /// Decodes a JPEG or PNG held in `data`.
    /// - Parameters:
    ///   - data: the file's bytes.
    ///   - options: how a JPEG is decoded; a PNG honours only `resizeAndCenterCrop`.
    ///   - path: used in error messages only.
    /// - Throws: `DataError` naming `path`, as `decode(_:options:path:)` with a buffer.
    public static func decode(
        _ data: Data, options: JPEGDecodeOptions = .init(), path: String = "<memory>"
    ) throws -> RGB8Image {
        try data.withUnsafeBytes { try decode($0, options: options, path: path) }
    }

    /// Reads and decodes a JPEG or PNG file.
    /// - Parameters:
    ///   - url: the image file.
    ///   - options: how a JPEG is decoded; a PNG honours only `resizeAndCenterCrop`.
    /// - Throws: `DataError` naming the file: unreadable, empty, another format, not an image,
    ///   truncated, corrupt.
    public static func decode(contentsOf url: URL, options: JPEGDecodeOptions = .init()) throws -> RGB8Image {
        try decode(try JPEG.readFile(url), options: options, path: url.path)
    }

    /// Resize(shorter side) → CenterCrop on a decoded image: only the cropped window is resampled
    /// when the crop lies inside the resized image (the same pixels as the two transforms).
    static func resizedAndCenterCropped(
        _ image: RGB8Image, _ fused: JPEGDecodeOptions.ResizeAndCenterCrop
    ) -> RGB8Image {
        let (w, h) = RGB8Image.resizedSize(width: image.width, height: image.height, shorterSide: fused.shorterSide)
        guard fused.width <= w && fused.height <= h else {
            return image.resized(shorterSide: fused.shorterSide).centerCropped(width: fused.width, height: fused.height)
        }
        let o = RGB8Image.centerCropOrigin(width: w, height: h, cropWidth: fused.width, cropHeight: fused.height)
        return image.resizedBilinear(width: w, height: h, window: (o.x, o.y, fused.width, fused.height))
    }
}
