import Foundation
import FuzzSupport
import GraftData

/// Fuzzes the JPEG decoder: the header probe, a full decode with EXIF orientation, and the
/// decode fused with Resize → CenterCrop (with and without DCT scaling), which decodes only a
/// window of the image.
let path = "fuzz-input.jpg"

let optionSets: [JPEGDecodeOptions] = [
    JPEGDecodeOptions(),
    JPEGDecodeOptions(
        applyOrientation: false,
        resizeAndCenterCrop: .init(shorterSide: 32, width: 28, height: 28)),
    JPEGDecodeOptions(
        applyOrientation: true, minimumShortSide: 8,
        resizeAndCenterCrop: .init(shorterSide: 24, width: 20, height: 16)),
]

func fuzzOne(_ input: UnsafeRawBufferPointer) {
    do {
        let info = try JPEG.probe(input, path: path)
        precondition(info.width > 0 && info.height > 0)
    } catch {
        FuzzHarness.expectNamed(error, path: path)
        return
    }
    for options in optionSets {
        FuzzHarness.expectNamed(path: path) {
            let image = try JPEG.decode(input, options: options, path: path)
            precondition(image.pixels.count == image.width * image.height * 3)
            if let crop = options.resizeAndCenterCrop {
                precondition(image.width == crop.width && image.height == crop.height)
            }
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    fuzzOne(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

#if !FUZZING
@main enum Replay {
    static func main() { exit(FuzzHarness.replay(CommandLine.arguments.dropFirst(), fuzzOne)) }
}
#endif
