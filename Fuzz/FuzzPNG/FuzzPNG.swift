import Foundation
import FuzzSupport
import GraftData

/// Fuzzes the PNG decoder: the header probe, a full decode (every colour type, bit depth and
/// interlacing the header may claim), and the decode as the loaders run it (`ImageFile`, sniffing
/// the format, with Resize → CenterCrop fused). Each input runs as it is and, when its chunk CRCs
/// are wrong, once more with them put right.
let path = "fuzz-input.png"

let fused = JPEGDecodeOptions(resizeAndCenterCrop: .init(shorterSide: 24, width: 20, height: 16))

/// Resampling is not what is fuzzed here: past this many pixels only the decode runs, so that a
/// few bytes claiming a huge blank image do not spend the run in the resize.
let largestResized = 1 << 22

func fuzzOne(_ input: UnsafeRawBufferPointer) {
    let info: PNGInfo
    do {
        info = try PNG.probe(input, path: path)
        precondition(info.width > 0 && info.height > 0)
        precondition([1, 2, 4, 8, 16].contains(info.bitDepth))
    } catch {
        FuzzHarness.expectNamed(error, path: path)
        return
    }
    var decoded = false
    FuzzHarness.expectNamed(path: path) {
        let image = try PNG.decode(input, path: path)
        precondition(image.width == info.width && image.height == info.height)
        precondition(image.pixels.count == image.width * image.height * 3)
        decoded = true
    }
    guard decoded, info.width * info.height <= largestResized else { return }
    // What PNG decodes, the loaders' path decodes too.
    do {
        let header = try ImageFile.probe(input, path: path)
        precondition(header.format == .png && header.width == info.width && header.height == info.height)
        let image = try ImageFile.decode(input, options: fused, path: path)
        precondition(image.width == 20 && image.height == 16)
    } catch {
        fatalError("PNG.decode read it, ImageFile did not: \(error)")
    }
}

/// CRC-32 (ISO 3309, as PNG's chunks and zlib use it).
let crcTable: [UInt32] = (0..<256).map { n in
    (0..<8).reduce(UInt32(n)) { c, _ in c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
}

func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    ~bytes.reduce(~UInt32(0)) { c, b in crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
}

/// The input with every complete chunk's CRC recomputed, or nil when none was wrong: a mutation
/// inside a chunk otherwise stops at libpng's CRC check, and the inflate, unfilter, de-interlace
/// and conversion code behind it would rarely be reached.
func withChunkCRCsFixed(_ input: UnsafeRawBufferPointer) -> [UInt8]? {
    guard input.count > 8, input.starts(with: PNG.signature) else { return nil }
    var bytes = [UInt8](input)
    var changed = false
    var at = 8
    while at + 12 <= bytes.count {
        let length = bytes[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) }
        guard length <= bytes.count - at - 12 else { break }
        let crc = crc32(bytes[(at + 4)..<(at + 8 + length)])
        let end = at + 8 + length
        for i in 0..<4 {
            let byte = UInt8(truncatingIfNeeded: crc >> (24 - 8 * i))
            if bytes[end + i] != byte {
                bytes[end + i] = byte
                changed = true
            }
        }
        at = end + 4
    }
    return changed ? bytes : nil
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    fuzzOne(input)
    withChunkCRCsFixed(input)?.withUnsafeBytes { fuzzOne($0) }
    return 0
}

#if !FUZZING
@main enum Replay {
    static func main() {
        exit(
            FuzzHarness.replay(CommandLine.arguments.dropFirst()) { input in
                fuzzOne(input)
                withChunkCRCsFixed(input)?.withUnsafeBytes { fuzzOne($0) }
            })
    }
}
#endif
