import Foundation
import GraftData
import Testing
import TestSupport

/// The PNG fixtures committed with the tests (`scripts/make-png-fixtures.py`): each `NAME.png`
/// beside `NAME.rgb.npy`, what Pillow's `Image.open(NAME.png).convert("RGB")` gives.
enum PNGFixtures {
    static let folder = Fixtures.packageRoot.appendingPathComponent("Tests/Fixtures/png")

    static func url(_ name: String) -> URL { folder.appendingPathComponent("\(name).png") }

    static func data(_ name: String) throws -> Data { try Data(contentsOf: url(name)) }

    /// Pillow's pixels for `name`.
    static func expected(_ name: String) throws -> RGB8Image {
        let npy = folder.appendingPathComponent("\(name).rgb.npy")
        guard case .uint8(let shape, let values) = try NPY.read(npy), shape.count == 3, shape[2] == 3 else {
            throw DataError.invalidArgument("\(npy.path): expected a uint8 [H, W, 3] array")
        }
        return RGB8Image(width: shape[1], height: shape[0], pixels: values)
    }

    /// Every kind the fixture script writes.
    static let names = [
        "gray1", "gray2", "gray4", "gray8", "gray8_trns", "gray16", "gray_alpha8", "gray_alpha16",
        "rgb8", "rgb8_trns", "rgb8_multi_idat", "rgb8_gamma_sbit", "rgba8", "rgb16", "rgba16",
        "palette1", "palette2", "palette4", "palette8", "palette8_trns", "palette8_short", "palette4_short_trns",
        "rgb8_adam7", "rgb8_adam7_1x1", "rgba16_adam7", "gray2_adam7", "gray16_adam7", "palette4_adam7",
        "gray_alpha8_adam7", "pillow_rgb", "pillow_rgba_optimized",
    ]

    /// A PNG chunk with its CRC, to build damaged files that still pass the CRC check.
    static func chunk(_ type: String, _ body: [UInt8]) -> [UInt8] {
        let typed = Array(type.utf8) + body
        return bigEndian(UInt32(body.count)) + typed + bigEndian(crc32(typed))
    }

    static func bigEndian(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (24 - 8 * $0)) } }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return ~c
    }

    /// A PNG of `chunks` after the signature.
    static func file(_ chunks: [[UInt8]]) -> Data { Data(PNG.signature + chunks.joined()) }

    /// IHDR for an 8-bit RGB image of `width` × `height`.
    static func rgbHeader(width: UInt32, height: UInt32) -> [UInt8] {
        chunk("IHDR", bigEndian(width) + bigEndian(height) + [8, 2, 0, 0, 0])
    }
}

@Suite("PNG decoding")
struct PNGTests {
    @Test("decodes pixel for pixel as Pillow's convert(\"RGB\")", arguments: PNGFixtures.names)
    func matchesPillow(name: String) throws {
        let expected = try PNGFixtures.expected(name)
        let image = try PNG.decode(contentsOf: PNGFixtures.url(name))
        #expect(image.width == expected.width && image.height == expected.height, "\(name)")
        let diff = byteDifference(image, expected)
        #expect(diff.max == 0, "\(name): max |Δ| \(diff.max), mean \(diff.mean)")
        // The loaders' entry point, which picks the decoder by the first bytes, gives the same.
        #expect(try ImageFile.decode(contentsOf: PNGFixtures.url(name)) == expected, "\(name)")
    }

    @Test("every fixture the script wrote is compared")
    func everyFixtureListed() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: PNGFixtures.folder.path)
        let pngs = Set(files.filter { $0.hasSuffix(".png") }.map { String($0.dropLast(4)) })
        #expect(pngs == Set(PNGFixtures.names))
        #expect(Set(files.filter { $0.hasSuffix(".rgb.npy") }.map { String($0.dropLast(8)) }) == pngs)
    }

    /// What the 16-bit and alpha fixtures must show, in Pillow's own terms (the exact bytes are
    /// checked above; these say which rule they follow).
    @Test("16-bit grey clips at 255, 16-bit colour keeps the high byte, alpha is dropped")
    func pillowRules() throws {
        // The fixture holds both kinds of sample: clipped ones, and ones below 256 kept as they are.
        let gray16 = try PNGFixtures.expected("gray16")
        #expect(gray16.pixels.contains(255) && gray16.pixels.contains { $0 > 0 && $0 < 255 })
        // A hand-made 2 × 1 image: 16-bit grey 300 → 255 (clipped), 200 → 200 (not scaled to 0).
        let row: [UInt8] = [0, 0x01, 0x2C, 0x00, 0xC8]
        let gray = PNGFixtures.file([
            PNGFixtures.chunk("IHDR", PNGFixtures.bigEndian(2) + PNGFixtures.bigEndian(1) + [16, 0, 0, 0, 0]),
            PNGFixtures.chunk("IDAT", try zlibStored(row)), PNGFixtures.chunk("IEND", []),
        ])
        #expect(try PNG.decode(gray).pixels == [255, 255, 255, 200, 200, 200])
        // 16-bit RGBA: (0x12ff, 0x8001, 0xffff, alpha 0) → the high bytes, alpha ignored.
        let rgba: [UInt8] = [0, 0x12, 0xFF, 0x80, 0x01, 0xFF, 0xFF, 0x00, 0x00]
        let colour = PNGFixtures.file([
            PNGFixtures.chunk("IHDR", PNGFixtures.bigEndian(1) + PNGFixtures.bigEndian(1) + [16, 6, 0, 0, 0]),
            PNGFixtures.chunk("IDAT", try zlibStored(rgba)), PNGFixtures.chunk("IEND", []),
        ])
        #expect(try PNG.decode(colour).pixels == [0x12, 0x80, 0xFF])
    }

    @Test("probe reads the header: size, depth, colour type, palette, transparency, interlacing")
    func probe() throws {
        let gray16 = try PNGFixtures.data("gray16").withUnsafeBytes { try PNG.probe($0) }
        #expect(gray16.width == 9 && gray16.height == 6 && gray16.bitDepth == 16 && gray16.colorType == .gray)
        let palette = try PNGFixtures.data("palette4_short_trns").withUnsafeBytes { try PNG.probe($0) }
        #expect(palette.colorType == .palette && palette.bitDepth == 4 && palette.paletteEntries == 3)
        #expect(palette.hasTransparency && !palette.interlaced)
        let adam7 = try PNGFixtures.data("rgba16_adam7").withUnsafeBytes { try PNG.probe($0) }
        #expect(adam7.interlaced && adam7.colorType == .rgba && adam7.bitDepth == 16)
        let header = try ImageFile.probe(contentsOf: PNGFixtures.url("gray_alpha16"))
        #expect(header == ImageHeader(format: .png, width: 9, height: 6))
    }

    @Test("the decoder is chosen by the first bytes, not the name")
    func sniffedNotNamed() throws {
        let dir = try TemporaryDirectory.make("graft-png")
        defer { TemporaryDirectory.remove(dir) }
        let png = try PNGFixtures.data("rgb8")
        let pngAsJPG = dir.appendingPathComponent("really-a-png.jpg")
        try png.write(to: pngAsJPG)
        #expect(try ImageFile.decode(contentsOf: pngAsJPG) == (try PNGFixtures.expected("rgb8")))
        #expect(try ImageFile.probe(contentsOf: pngAsJPG).format == .png)

        let image = try PNGFixtures.expected("pillow_rgb")
        let jpeg = try JPEG.encode(image, quality: 90)
        let jpegAsPNG = dir.appendingPathComponent("really-a-jpeg.PNG")
        try jpeg.write(to: jpegAsPNG)
        #expect(try ImageFile.decode(contentsOf: jpegAsPNG) == (try JPEG.decode(jpeg)))
        #expect(try ImageFile.probe(contentsOf: jpegAsPNG).format == .jpeg)

        // Each format's own decoder says what it was handed.
        #expect(throws: DataError.formatMismatch(path: pngAsJPG.path, found: "PNG", expected: "JPEG")) {
            try JPEG.decode(contentsOf: pngAsJPG)
        }
        #expect(throws: DataError.formatMismatch(path: jpegAsPNG.path, found: "JPEG", expected: "PNG")) {
            try PNG.decode(contentsOf: jpegAsPNG)
        }
    }

    /// The error a decode of `data`, saved as `name`, throws.
    static func decodeError(_ data: Data, name: String, in dir: URL) throws -> DataError? {
        let url = dir.appendingPathComponent(name)
        try data.write(to: url)
        do {
            _ = try ImageFile.decode(contentsOf: url)
            return nil
        } catch let error as DataError {
            #expect(error.errorDescription?.contains(url.path) == true, "the message names the file: \(error)")
            return error
        }
    }

    @Test("a truncated PNG is an error naming the file, wherever it is cut")
    func truncated() throws {
        let dir = try TemporaryDirectory.make("graft-png")
        defer { TemporaryDirectory.remove(dir) }
        for name in ["rgb8", "rgba16_adam7", "palette4", "pillow_rgb"] {
            let data = try PNGFixtures.data(name)
            for cut in [9, 20, 33, 40, data.count / 2, data.count - 20] {
                let error = try Self.decodeError(data.prefix(cut), name: "\(name)-\(cut).png", in: dir)
                guard case .truncated(let path, let detail) = error else {
                    Issue.record("\(name) cut at \(cut): \(String(describing: error))")
                    continue
                }
                #expect(path.hasSuffix("\(name)-\(cut).png") && detail.hasPrefix("PNG"))
            }
        }
        // The image data itself ends early, in a file whose chunks are all whole.
        let rows = [UInt8](repeating: 0, count: 1 + 4 * 3)  // one row of four, the image has two
        let short = PNGFixtures.file([
            PNGFixtures.rgbHeader(width: 4, height: 2), PNGFixtures.chunk("IDAT", try zlibStored(rows)),
            PNGFixtures.chunk("IEND", []),
        ])
        guard case .corrupt(_, let detail) = try Self.decodeError(short, name: "short.png", in: dir) else {
            Issue.record("short image data was not an error"); return
        }
        #expect(detail.hasPrefix("PNG"))
    }

    @Test("corrupt PNGs: each an error naming the file")
    func corrupt() throws {
        let dir = try TemporaryDirectory.make("graft-png")
        defer { TemporaryDirectory.remove(dir) }
        func corruptDetail(_ data: Data, _ name: String) throws -> String? {
            guard case .corrupt(_, let detail) = try Self.decodeError(data, name: name, in: dir) else { return nil }
            return detail
        }
        let good = [UInt8](try PNGFixtures.data("rgb8"))
        let idat = try #require(good.indices.first { good[$0..<($0 + 4)].elementsEqual(Array("IDAT".utf8)) })
        let length = good[(idat - 4)..<idat].reduce(0) { $0 << 8 | Int($1) }
        // A wrong CRC on the header.
        var badHeader = good
        badHeader[29] ^= 0x01
        let crc = try corruptDetail(Data(badHeader), "ihdr-crc.png")
        #expect(crc?.contains("CRC") == true, "\(String(describing: crc))")
        // A wrong CRC on the image data is ignored, as Pillow ignores it: the pixels are Pillow's.
        var badIDATCRC = good
        badIDATCRC[idat + 4 + length] ^= 0x55
        #expect(try PNG.decode(Data(badIDATCRC)) == (try PNGFixtures.expected("rgb8")))
        // Image data whose zlib checksum (Adler-32) is wrong, or that is damaged inside.
        for (name, offset) in [("adler.png", idat + 4 + length - 2), ("idat-data.png", idat + 30)] {
            var damaged = good
            damaged[offset] ^= 0x55
            #expect(try corruptDetail(Data(damaged), name)?.hasPrefix("PNG") == true, "\(name)")
        }
        // Image data that is not zlib, behind a correct CRC.
        let garbage = PNGFixtures.file([
            PNGFixtures.rgbHeader(width: 4, height: 2), PNGFixtures.chunk("IDAT", [0x12, 0x34, 0x56, 0x78, 0x9A]),
            PNGFixtures.chunk("IEND", []),
        ])
        #expect(try corruptDetail(garbage, "zlib.png")?.hasPrefix("PNG") == true)
        // An invalid header (bit depth 3).
        let depth3 = PNGFixtures.file([
            PNGFixtures.chunk("IHDR", PNGFixtures.bigEndian(2) + PNGFixtures.bigEndian(2) + [3, 0, 0, 0, 0]),
            PNGFixtures.chunk("IDAT", try zlibStored([0, 0, 0, 0])), PNGFixtures.chunk("IEND", []),
        ])
        #expect(try corruptDetail(depth3, "depth3.png")?.hasPrefix("PNG") == true)
        // A header claiming more pixels than the decompression-bomb limit is refused before any
        // memory is set aside for it.
        let bomb = PNGFixtures.file([
            PNGFixtures.rgbHeader(width: 60_000, height: 60_000), PNGFixtures.chunk("IDAT", try zlibStored([0])),
            PNGFixtures.chunk("IEND", []),
        ])
        let limit = try corruptDetail(bomb, "bomb.png")
        #expect(limit?.contains("\(PNG.maximumPixels)") == true, "\(String(describing: limit))")
        // A text chunk claiming 100 MB: refused at its header, before any memory is set aside for
        // it (found by FuzzPNG: libpng only warns, then allocates what the length says).
        let longText =
            PNG.signature + PNGFixtures.rgbHeader(width: 4, height: 2) + PNGFixtures.bigEndian(100_000_000)
            + Array("tEXt".utf8) + Array("Comment\u{0}x".utf8)
        let tooLarge = try corruptDetail(Data(longText), "long-text.png")
        #expect(tooLarge?.contains("too large") == true, "\(String(describing: tooLarge))")
        // Not images at all, with a .png name.
        let empty = try Self.decodeError(Data(), name: "empty.png", in: dir)
        #expect(empty == .emptyFile(path: dir.appendingPathComponent("empty.png").path))
        let gif = try Self.decodeError(Data("GIF89a\u{1}\u{0}\u{1}\u{0}".utf8), name: "anim.png", in: dir)
        #expect(gif == .unsupportedFormat(path: dir.appendingPathComponent("anim.png").path, format: "GIF"))
        #expect(gif?.errorDescription?.contains("is a GIF, not a JPEG or PNG") == true)
        let random = try Self.decodeError(Data([0, 1, 2, 3, 200, 201]), name: "r.png", in: dir)
        guard case .notAnImage(_, let detail) = random else {
            Issue.record("random bytes: \(String(describing: random))")
            return
        }
        #expect(detail.hasPrefix("neither a JPEG nor a PNG"))
    }

    @Test("decode fused with Resize + CenterCrop equals decode then the transforms")
    func fusedResizeAndCenterCrop() throws {
        for name in ["pillow_rgb", "palette8", "gray16_adam7"] {
            let data = try PNGFixtures.data(name)
            let full = try PNG.decode(data)
            for (resize, cw, ch) in [(8, 6, 6), (24, 20, 16), (40, 44, 30), (5, 5, 5)] {
                let options = JPEGDecodeOptions(resizeAndCenterCrop: .init(shorterSide: resize, width: cw, height: ch))
                let expected = full.resized(shorterSide: resize).centerCropped(width: cw, height: ch)
                #expect(try ImageFile.decode(data, options: options) == expected, "\(name): \(resize), \(cw)x\(ch)")
            }
        }
    }
}

/// `bytes` as a zlib stream of stored (uncompressed) blocks: image data for hand-made PNGs.
func zlibStored(_ bytes: [UInt8]) throws -> [UInt8] {
    guard bytes.count <= 65535 else { throw DataError.invalidArgument("one stored block holds at most 65535 bytes") }
    let n = UInt16(bytes.count)
    var a: UInt32 = 1, b: UInt32 = 0
    for x in bytes {
        a = (a + UInt32(x)) % 65521
        b = (b + a) % 65521
    }
    let adler = (b << 16) | a
    return [0x78, 0x01, 0x01, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8(~n >> 8)] + bytes
        + PNGFixtures.bigEndian(adler)
}
