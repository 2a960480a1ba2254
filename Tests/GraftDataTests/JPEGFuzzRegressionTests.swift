import Foundation
import GraftData
import Testing

/// Inputs found by the JPEG fuzz target (Fuzz/FuzzJPEG, `make fuzz`), rebuilt in the test: each
/// must fail with a `DataError` naming the file, not trap.
@Suite("Fuzzer regressions: JPEG")
struct JPEGFuzzRegressionTests {
    /// A small JPEG whose start-of-frame header claims `width` × `height`.
    static func jpeg(claiming width: Int, _ height: Int) throws -> Data {
        let image = RGB8Image(width: 16, height: 16, fill: 128)
        var bytes = [UInt8](try JPEG.encode(image, quality: 75))
        // SOF0: FF C0, length (2), precision (1), height (2), width (2).
        guard let sof = (0..<(bytes.count - 8)).first(where: { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xC0 }) else {
            throw DataError.invalidArgument("no SOF0 marker in the encoded JPEG")
        }
        bytes[sof + 5] = UInt8(height >> 8)
        bytes[sof + 6] = UInt8(height & 0xFF)
        bytes[sof + 7] = UInt8(width >> 8)
        bytes[sof + 8] = UInt8(width & 0xFF)
        return Data(bytes)
    }

    /// A file of a few hundred bytes whose header says 65000 × 65000 made the decoder allocate
    /// nearly 12 GiB for its pixels (a trap where the allocation fails), and libjpeg pads the
    /// missing rows, so all of it was written.
    @Test func headerClaimingAHugeImage() throws {
        let data = try Self.jpeg(claiming: 65000, 65000)
        let path = "huge.jpg"
        let info = try data.withUnsafeBytes { try JPEG.probe($0, path: path) }
        #expect(info.storedWidth == 65000 && info.storedHeight == 65000)
        let fused = JPEGDecodeOptions(resizeAndCenterCrop: .init(shorterSide: 32, width: 28, height: 28))
        for options in [JPEGDecodeOptions(), fused, JPEGDecodeOptions(minimumShortSide: 100)] {
            do {
                _ = try JPEG.decode(data, options: options, path: path)
                Issue.record("decoded")
            } catch let error as DataError {
                let message = error.localizedDescription
                #expect(message.contains(path) && message.contains("larger than the limit"), "\(message)")
            }
        }
    }

    /// Just under the limit the header is accepted. libjpeg pads the missing rows (the data ends
    /// with an EOI marker, not in the middle of a segment), so the decode succeeds: with DCT
    /// scaling 1/8 that is 1625 × 1625 pixels.
    @Test func largeButAllowedHeaderIsDecoded() throws {
        let side = 13_000  // 169 M pixels, under Pillow's 179 M
        #expect(side * side <= JPEG.maximumPixels)
        let data = try Self.jpeg(claiming: side, side)
        let image = try JPEG.decode(data, options: JPEGDecodeOptions(minimumShortSide: 1000), path: "large.jpg")
        #expect(image.width == side / 8 && image.height == side / 8)
    }
}
