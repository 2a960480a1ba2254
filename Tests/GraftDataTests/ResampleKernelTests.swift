import CJPEG
import Testing
@testable import GraftData

/// The horizontal resample pass has a SIMD path (SSE4.1, chosen at run time) and a portable one;
/// both must give the same bytes, including at the very end of the source buffer, where the SIMD
/// path may not read its usual 4 bytes.
@Suite struct ResampleKernelTests {
    @Test(arguments: [(101, 60), (37, 90), (640, 383), (5, 2)])
    func simdAndPortablePassesAgree(inWidth: Int, outWidth: Int) {
        let height = 7
        var state: UInt32 = 12345
        let pixels: [UInt8] = (0..<(inWidth * height * 3)).map { _ in
            state = state &* 1_664_525 &+ 1_013_904_223
            return UInt8(truncatingIfNeeded: state >> 24)
        }
        let taps = RGB8Image.bilinearTaps(inSize: inWidth, outSize: outWidth)
        var simd = [UInt8](repeating: 0, count: outWidth * height * 3), portable = simd
        pixels.withUnsafeBufferPointer { src in
            taps.first.withUnsafeBufferPointer { first in
                taps.count.withUnsafeBufferPointer { count in
                    taps.weights.withUnsafeBufferPointer { weights in
                        let shift = Int32(RGB8Image.precisionBits)
                        graft_resample_rows(
                            src.baseAddress!, inWidth * 3, src.baseAddress! + src.count, Int32(height),
                            &simd, Int32(outWidth), first.baseAddress!, count.baseAddress!,
                            weights.baseAddress!, Int32(taps.size), shift)
                        graft_resample_rows_portable(
                            src.baseAddress!, inWidth * 3, Int32(height), &portable,
                            Int32(outWidth), first.baseAddress!, count.baseAddress!,
                            weights.baseAddress!, Int32(taps.size), shift)
                    }
                }
            }
        }
        #expect(simd == portable)
        // Not trivially equal: the pass wrote something.
        #expect(portable.contains { $0 != 0 })
    }
}
