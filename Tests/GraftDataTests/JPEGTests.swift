import Foundation
import GraftData
import GraftSupport
import Testing
import TestSupport

@Suite("JPEG decoding")
struct JPEGTests {
    static let exact = [
        "flower", "china", "rocket", "flower_baseline420", "flower_progressive", "flower_gray",
        "flower_cmyk", "flower_444",
    ]

    @Test("a file that cannot be read: the error names it and carries the system's error")
    func unreadableFileKeepsTheCause() throws {
        let dir = try TemporaryDirectory.make("graft-jpeg")
        defer { TemporaryDirectory.remove(dir) }
        // A directory opens but cannot be read as a file.
        do {
            _ = try JPEG.decode(contentsOf: dir)
            Issue.record("a directory decoded")
        } catch let DataError.io(path, detail, cause) {
            #expect(path == dir.path && detail == "cannot read")
            let cause = try #require(cause)
            #expect(!(cause.underlying is DataError), "the cause is the system's error, not ours: \(cause)")
            #expect(
                DataError.io(path: path, detail: detail, cause: cause).localizedDescription.hasSuffix(cause.description)
            )
        }
    }

    @Test("decodes bit-identically to Pillow", arguments: exact)
    func bitExact(name: String) throws {
        let image = try JPEG.decode(contentsOf: Fixtures.url("images/\(name).jpg"))
        let expected = try fixtureImage("images/\(name).rgb.npy")
        #expect(image.width == expected.width && image.height == expected.height)
        let diff = byteDifference(image, expected)
        #expect(diff.max == 0, "\(name): max |Δ| \(diff.max), mean \(diff.mean)")
    }

    /// The decoder fused with Resize → CenterCrop decodes only part of the photo; the result must
    /// be exactly the full decode followed by the two transforms, for every sampling layout, with
    /// EXIF rotation, with DCT scaling, upscaling, crops that pad, and odd sizes.
    @Test(
        "decode fused with Resize + CenterCrop equals decode then the transforms",
        arguments: exact + ["flower_exif_rot6"])
    func fusedResizeAndCenterCrop(name: String) throws {
        let data = try Data(contentsOf: Fixtures.url("images/\(name).jpg"))
        var photos: [(String, Data)] = [(name, data)]
        if name == "flower" {
            // Odd sizes, colour (4:2:0) and gray, re-encoded from a fixture photo.
            let base = try JPEG.decode(data)
            for (w, h) in [(333, 517), (517, 333), (101, 67), (640, 31)] {
                let part = base.resizedBilinear(width: w, height: h)
                photos.append(("\(w)x\(h)", try JPEG.encode(part, quality: 85)))
                photos.append(("\(w)x\(h) gray", try JPEG.encode(part, quality: 85, grayscale: true)))
            }
        }
        let transforms = [(256, 224, 224), (64, 48, 60), (160, 160, 100), (300, 224, 224), (32, 40, 40)]
        for (label, bytes) in photos {
            for (resize, cw, ch) in transforms {
                for (orientation, minimumShortSide) in [(true, 0), (false, 0), (true, 2 * resize)] {
                    let plain = JPEGDecodeOptions(applyOrientation: orientation, minimumShortSide: minimumShortSide)
                    var fused = plain
                    fused.resizeAndCenterCrop = .init(shorterSide: resize, width: cw, height: ch)
                    let expected = try JPEG.decode(bytes, options: plain).resized(shorterSide: resize)
                        .centerCropped(width: cw, height: ch)
                    let got = try JPEG.decode(bytes, options: fused)
                    #expect(
                        got == expected,
                        "\(label): resize \(resize), crop \(cw)x\(ch), orientation \(orientation), min side \(minimumShortSide)"
                    )
                }
            }
        }
    }

    @Test("EXIF orientation: ignored on request, applied by default")
    func exifOrientation() throws {
        let url = Fixtures.url("images/flower_exif_rot6.jpg")
        let info = try JPEG.probe(contentsOf: url)
        #expect(info.orientation == 6)
        #expect(info.storedWidth == 167 && info.storedHeight == 250)
        #expect(info.width == 250 && info.height == 167)

        let raw = try JPEG.decode(contentsOf: url, options: .init(applyOrientation: false))
        let stored = try fixtureImage("images/flower_exif_rot6.rgb.npy")
        #expect(raw == stored)

        let upright = try JPEG.decode(contentsOf: url)
        let transposed = try fixtureImage("images/flower_exif_rot6.transposed.rgb.npy")
        #expect(upright == transposed)
    }

    @Test("header probe reports size, components and colour space")
    func probe() throws {
        let gray = try JPEG.probe(contentsOf: Fixtures.url("images/flower_gray.jpg"))
        #expect(gray.components == 1 && gray.colorSpace == .gray && gray.width == 250 && gray.height == 167)
        let cmyk = try JPEG.probe(contentsOf: Fixtures.url("images/flower_cmyk.jpg"))
        #expect(cmyk.components == 4 && cmyk.colorSpace == .cmyk)
        let progressive = try JPEG.probe(contentsOf: Fixtures.url("images/flower_progressive.jpg"))
        #expect(progressive.progressive)
        let baseline = try JPEG.probe(contentsOf: Fixtures.url("images/flower.jpg"))
        #expect(!baseline.progressive && baseline.width == 640 && baseline.height == 427 && baseline.orientation == 1)
    }

    @Test("each bad file gives its own error")
    func badFiles() throws {
        func error(_ name: String) -> DataError? {
            do {
                _ = try JPEG.decode(contentsOf: Fixtures.url("images/bad/\(name)"))
                return nil
            } catch let e as DataError {
                return e
            } catch {
                return nil
            }
        }
        let path = { (name: String) in Fixtures.url("images/bad/\(name)").path }
        #expect(error("empty.jpg") == .emptyFile(path: path("empty.jpg")))
        #expect(
            error("png_renamed.jpg") == .formatMismatch(path: path("png_renamed.jpg"), found: "PNG", expected: "JPEG"))
        #expect(error("png_renamed.jpg")?.errorDescription?.contains("is a PNG, not a JPEG") == true)
        guard case .truncated = error("truncated.jpg") else {
            Issue.record("truncated.jpg: \(String(describing: error("truncated.jpg")))"); return
        }
        guard case .notAnImage(_, let textDetail) = error("text.jpg") else {
            Issue.record("text.jpg: \(String(describing: error("text.jpg")))"); return
        }
        #expect(textDetail.hasPrefix("plain text"))
        guard case .notAnImage(_, let randomDetail) = error("random.jpg") else {
            Issue.record("random.jpg: \(String(describing: error("random.jpg")))"); return
        }
        #expect(randomDetail.contains("no JPEG start-of-image marker"))
        // The header of the truncated file is intact: probing succeeds, decoding does not.
        let info = try JPEG.probe(contentsOf: Fixtures.url("images/bad/truncated.jpg"))
        #expect(info.width == 640 && info.height == 427)
    }

    @Test("DCT scaling picks the smallest scale that keeps the shorter side, and stays close to a resize")
    func dctScaling() throws {
        let url = Fixtures.url("images/flower.jpg")
        let info = try JPEG.probe(contentsOf: url, options: .init(minimumShortSide: 100))
        #expect(info.scaleDenominator == 4 && info.width == 160 && info.height == 107)
        let none = try JPEG.probe(contentsOf: url, options: .init(minimumShortSide: 400))
        #expect(none.scaleDenominator == 1 && none.width == 640)
        let scaled = try JPEG.decode(contentsOf: url, options: .init(minimumShortSide: 100))
        let reference = try JPEG.decode(contentsOf: url).resizedBilinear(width: 160, height: 107)
        let diff = byteDifference(scaled, reference)
        #expect(diff.mean < 3, "mean |Δ| \(diff.mean)")
    }

    @Test("encoder round trip, colour and grayscale")
    func encode() throws {
        let image = try fixtureImage("images/flower_444.rgb.npy")
        let data = try JPEG.encode(image, quality: 95)
        let back = try JPEG.decode(data)
        #expect(back.width == image.width && back.height == image.height)
        #expect(byteDifference(back, image).mean < 3)

        let grayData = try JPEG.encode(try fixtureImage("images/flower_gray.rgb.npy"), quality: 90, grayscale: true)
        let info = try grayData.withUnsafeBytes { try JPEG.probe($0) }
        #expect(info.components == 1)
        let gray = try JPEG.decode(grayData)
        #expect(byteDifference(gray, try fixtureImage("images/flower_gray.rgb.npy")).mean < 3)
    }
}
