/// An 8-bit RGB image, rows top to bottom, pixels interleaved (HWC): the byte for channel `c` of
/// pixel `(x, y)` is `pixels[(y * width + x) * 3 + c]`. Transforms work on this form and convert to
/// a float32 CHW tensor only at the end.
public struct RGB8Image: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    /// - Precondition: `pixels.count == width * height * 3`.
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(
            width >= 0 && height >= 0 && pixels.count == width * height * 3,
            "RGB8Image \(width)x\(height) needs \(width * height * 3) bytes, got \(pixels.count)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// An image filled with one value per channel (black by default).
    public init(width: Int, height: Int, fill: UInt8 = 0) {
        self.init(width: width, height: height, pixels: [UInt8](repeating: fill, count: width * height * 3))
    }

    /// Builds an image whose bytes are written by `body` (it must write all `width * height * 3`).
    public init(width: Int, height: Int, initializingWith body: (UnsafeMutablePointer<UInt8>) throws -> Void) rethrows {
        let count = width * height * 3
        let bytes = try [UInt8](unsafeUninitializedCapacity: max(count, 1)) { buffer, initialized in
            if count > 0 { try body(buffer.baseAddress!) }
            initialized = count
        }
        self.init(width: width, height: height, pixels: bytes)
    }

    /// A grayscale image (one byte per pixel) copied into R, G and B.
    public init(width: Int, height: Int, gray: UnsafeBufferPointer<UInt8>) {
        precondition(gray.count == width * height, "gray image \(width)x\(height) needs \(width * height) bytes")
        self.init(width: width, height: height) { dst in
            for i in 0..<(width * height) {
                let v = gray[i]
                dst[3 * i] = v
                dst[3 * i + 1] = v
                dst[3 * i + 2] = v
            }
        }
    }

    public var byteCount: Int { pixels.count }
}
