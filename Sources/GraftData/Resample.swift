import CJPEG
import Foundation

/// Geometric operations on `RGB8Image`, written to give Pillow's results.
extension RGB8Image {
    /// Pillow's fixed-point precision for 8-bit resampling (`PRECISION_BITS = 32 - 8 - 2`).
    static let precisionBits = 22

    /// Filter taps for one axis, as Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` compute
    /// them for the bilinear (triangle) filter: the support widens by the downscale factor, which
    /// makes downscaling antialiased.
    struct Taps {
        var size: Int  // taps per output pixel
        var first: [Int]  // first input index per output pixel
        var count: [Int]  // taps used per output pixel
        var weights: [Int32]  // outSize * size fixed-point weights
    }

    static func bilinearTaps(inSize: Int, outSize: Int) -> Taps {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1.0)
        let support = 1.0 * filterScale
        let size = Int(support.rounded(.up)) * 2 + 1
        var first = [Int](repeating: 0, count: outSize)
        var count = [Int](repeating: 0, count: outSize)
        var weights = [Int32](repeating: 0, count: outSize * size)
        var k = [Double](repeating: 0, count: size)
        let ss = 1.0 / filterScale
        let one = Double(1 << precisionBits)
        for xx in 0..<outSize {
            let center = (Double(xx) + 0.5) * scale
            var xmin = Int(center - support + 0.5)
            if xmin < 0 { xmin = 0 }
            var xmax = Int(center + support + 0.5)
            if xmax > inSize { xmax = inSize }
            xmax -= xmin
            var total = 0.0
            for x in 0..<xmax {
                var t = (Double(x + xmin) - center + 0.5) * ss
                if t < 0 { t = -t }
                let w = t < 1 ? 1 - t : 0
                k[x] = w
                total += w
            }
            for x in 0..<xmax {
                let w = total != 0 ? k[x] / total : k[x]
                weights[xx * size + x] = w < 0 ? Int32(-0.5 + w * one) : Int32(0.5 + w * one)
            }
            first[xx] = xmin
            count[xx] = xmax
        }
        return Taps(size: size, first: first, count: count, weights: weights)
    }

    /// The region `(x, y, width, height)` resized to `width × height` with Pillow's antialiased
    /// bilinear filter (`Image.resize(size, Image.BILINEAR)` on the cropped image): a horizontal
    /// pass then a vertical pass, each rounded to uint8 in Pillow's fixed point.
    ///
    /// `window` returns only that part of the resized image (a crop after the resize), computing
    /// nothing outside it; each output pixel depends only on its own taps, so the result is
    /// identical to resizing fully and cropping.
    /// - Precondition: the region lies inside the image, the window inside the output; sizes positive.
    public func resizedBilinear(
        width outW: Int, height outH: Int,
        region: (x: Int, y: Int, width: Int, height: Int)? = nil,
        window: (x: Int, y: Int, width: Int, height: Int)? = nil
    ) -> RGB8Image {
        pixels.withUnsafeBufferPointer { source in
            Self.resizedBilinear(
                source.baseAddress!, width: width, height: height, to: outW, outH,
                region: region ?? (0, 0, width, height), window: window,
                origin: (0, 0), frame: (width, height))
        }
    }

    /// The same on raw pixels (`width × height`, HWC) that may be only part of a larger `frame`
    /// (a region decode): pixel (0, 0) of `src` is the frame's `origin`, and `region` is in frame
    /// coordinates.
    /// - Precondition: every pixel the window's filter taps read lies inside `src`.
    static func resizedBilinear(
        _ src: UnsafePointer<UInt8>, width: Int, height: Int, to outW: Int, _ outH: Int,
        region r: (x: Int, y: Int, width: Int, height: Int),
        window: (x: Int, y: Int, width: Int, height: Int)?,
        origin: (x: Int, y: Int), frame: (width: Int, height: Int)
    ) -> RGB8Image {
        let win = window ?? (0, 0, outW, outH)
        precondition(outW > 0 && outH > 0 && r.width > 0 && r.height > 0, "resize to \(outW)x\(outH) from \(r)")
        precondition(
            r.x >= 0 && r.y >= 0 && r.x + r.width <= frame.width && r.y + r.height <= frame.height,
            "region \(r) outside a \(frame.width)x\(frame.height) image")
        precondition(
            win.x >= 0 && win.y >= 0 && win.width > 0 && win.height > 0
                && win.x + win.width <= outW && win.y + win.height <= outH,
            "window \(win) outside a \(outW)x\(outH) output")
        // From here on, `r` is in this image's own coordinates.
        let r = (x: r.x - origin.x, y: r.y - origin.y, width: r.width, height: r.height)
        if outW == r.width && outH == r.height {
            precondition(
                r.x + win.x >= 0 && r.y + win.y >= 0 && r.x + win.x + win.width <= width
                    && r.y + win.y + win.height <= height, "the window lies outside the decoded part")
            return RGB8Image(width: win.width, height: win.height) { out in
                for row in 0..<win.height {
                    (out + row * win.width * 3).update(
                        from: src + ((r.y + win.y + row) * width + r.x + win.x) * 3,
                        count: win.width * 3)
                }
            }
        }
        let half = Int32(1 << (Self.precisionBits - 1))
        let shift = Int32(Self.precisionBits)
        let vTaps = Self.bilinearTaps(inSize: r.height, outSize: outH)
        let needVertical = outH != r.height
        // Rows of the region the vertical pass reads (or the window rows when there is none).
        let rowFirst = needVertical ? vTaps.first[win.y] : win.y
        let rowLast =
            needVertical
            ? vTaps.first[win.y + win.height - 1] + vTaps.count[win.y + win.height - 1]
            : win.y + win.height
        let tempH = rowLast - rowFirst
        let needHorizontal = outW != r.width
        let tempW = win.width
        let hTaps = needHorizontal ? Self.bilinearTaps(inSize: r.width, outSize: outW) : nil
        let colFirst = hTaps.map { $0.first[win.x] } ?? win.x
        let colLast =
            hTaps.map { $0.first[win.x + win.width - 1] + $0.count[win.x + win.width - 1] }
            ?? win.x + win.width
        precondition(
            r.x + colFirst >= 0 && r.y + rowFirst >= 0 && r.x + colLast <= width && r.y + rowLast <= height,
            "the resize reads outside the decoded \(width)x\(height) part")

        // Horizontal pass into `temp` (tempW x tempH), or a plain copy of the window's columns.
        // Every byte is written below (horizontal pass or copy): no need to zero it first.
        var temp = [UInt8](unsafeUninitializedCapacity: max(1, tempW * tempH * 3)) { _, n in n = tempW * tempH * 3 }
        let srcStride = width * 3
        temp.withUnsafeMutableBufferPointer { tmpBuf in
            let tmp = tmpBuf.baseAddress!
            if let hTaps {
                hTaps.weights.withUnsafeBufferPointer { wBuf in
                    hTaps.first.withUnsafeBufferPointer { firstBuf in
                        hTaps.count.withUnsafeBufferPointer { countBuf in
                            graft_resample_rows(
                                src + (r.y + rowFirst) * srcStride + r.x * 3, srcStride, src + width * height * 3,
                                Int32(tempH), tmp, Int32(tempW), firstBuf.baseAddress! + win.x,
                                countBuf.baseAddress! + win.x, wBuf.baseAddress! + win.x * hTaps.size,
                                Int32(hTaps.size), shift)
                        }
                    }
                }
            } else {
                for yy in 0..<tempH {
                    (tmp + yy * tempW * 3).update(
                        from: src + (r.y + rowFirst + yy) * srcStride + (r.x + win.x) * 3,
                        count: tempW * 3)
                }
            }
        }
        if !needVertical {
            return RGB8Image(width: tempW, height: tempH, pixels: temp)
        }
        // Vertical pass: accumulate whole rows (integer sums, so the order does not matter).
        let rowLen = tempW * 3
        var acc = [Int32](repeating: 0, count: rowLen)
        return RGB8Image(width: tempW, height: win.height) { out in
            temp.withUnsafeBufferPointer { tmpBuf in
                let tmp = tmpBuf.baseAddress!
                vTaps.weights.withUnsafeBufferPointer { wBuf in
                    acc.withUnsafeMutableBufferPointer { accBuf in
                        let a = accBuf.baseAddress!
                        for oy in 0..<win.height {
                            let yy = win.y + oy
                            a.update(repeating: half, count: rowLen)
                            let ymin = vTaps.first[yy] - rowFirst
                            let k = wBuf.baseAddress! + yy * vTaps.size
                            for y in 0..<vTaps.count[yy] {
                                let w = k[y]
                                let row = tmp + (ymin + y) * rowLen
                                for i in 0..<rowLen { a[i] &+= Int32(row[i]) &* w }
                            }
                            let o = out + oy * rowLen
                            for i in 0..<rowLen { o[i] = clip8(a[i] >> shift) }
                        }
                    }
                }
            }
        }
    }

    @inline(__always) static func clip8(_ v: Int32) -> UInt8 {
        v <= 0 ? 0 : (v >= 255 ? 255 : UInt8(truncatingIfNeeded: v))
    }

    /// Which rectangle `(x, y, width, height)` of a `width × height` image the windowed resize to
    /// `outW × outH` reads: the filter taps of the window's first and last rows and columns.
    static func sourceRectangle(
        width: Int, height: Int, outW: Int, outH: Int,
        window win: (x: Int, y: Int, width: Int, height: Int)
    )
        -> (x: Int, y: Int, width: Int, height: Int)
    {
        func span(_ inSize: Int, _ outSize: Int, _ first: Int, _ count: Int) -> (Int, Int) {
            guard outSize != inSize else { return (first, count) }
            let taps = bilinearTaps(inSize: inSize, outSize: outSize)
            let last = first + count - 1
            let start = taps.first[first]
            return (start, taps.first[last] + taps.count[last] - start)
        }
        let (x, w) = span(width, outW, win.x, win.width)
        let (y, h) = span(height, outH, win.y, win.height)
        return (x, y, w, h)
    }

    /// torchvision's `Resize(size)` with an int: the shorter side becomes `size`, the longer
    /// `int(size * long / short)` (truncated), then Pillow bilinear.
    public func resized(shorterSide size: Int) -> RGB8Image {
        let (w, h) = Self.resizedSize(width: width, height: height, shorterSide: size)
        return resizedBilinear(width: w, height: h)
    }

    /// The output size of `resized(shorterSide:)`.
    public static func resizedSize(width: Int, height: Int, shorterSide size: Int) -> (width: Int, height: Int) {
        if width <= height {
            return (size, Int(Double(size * height) / Double(width)))
        }
        return (Int(Double(size * width) / Double(height)), size)
    }

    /// The rectangle `(x, y, width, height)`; parts outside the image are filled with 0.
    public func cropped(x: Int, y: Int, width cw: Int, height ch: Int) -> RGB8Image {
        precondition(cw >= 0 && ch >= 0, "crop size \(cw)x\(ch)")
        if x == 0 && y == 0 && cw == width && ch == height { return self }
        return RGB8Image(width: cw, height: ch) { out in
            out.update(repeating: 0, count: cw * ch * 3)
            let x0 = max(x, 0), x1 = min(x + cw, width)
            guard x1 > x0 else { return }
            pixels.withUnsafeBufferPointer { srcBuf in
                let src = srcBuf.baseAddress!
                for row in 0..<ch {
                    let sy = y + row
                    guard sy >= 0 && sy < height else { continue }
                    (out + (row * cw + (x0 - x)) * 3).update(
                        from: src + (sy * width + x0) * 3,
                        count: (x1 - x0) * 3)
                }
            }
        }
    }

    /// torchvision's `CenterCrop`: offsets `int(round((size - crop) / 2))` with Python's
    /// round-half-to-even; a crop larger than the image is padded with 0 as torchvision pads.
    public func centerCropped(width cw: Int, height ch: Int) -> RGB8Image {
        let (x, y) = Self.centerCropOrigin(width: width, height: height, cropWidth: cw, cropHeight: ch)
        return cropped(x: x, y: y, width: cw, height: ch)
    }

    static func centerCropOrigin(width: Int, height: Int, cropWidth cw: Int, cropHeight ch: Int) -> (x: Int, y: Int) {
        func offset(_ size: Int, _ crop: Int) -> Int {
            if crop > size { return -((crop - size) / 2) }
            let d = size - crop
            if d % 2 == 0 { return d / 2 }
            let q = d / 2  // (d / 2) is q + 0.5: round half to even
            return q % 2 == 0 ? q : q + 1
        }
        return (offset(width, cw), offset(height, ch))
    }

    /// Mirror left-right.
    public func flippedHorizontally() -> RGB8Image {
        RGB8Image(width: width, height: height) { out in
            pixels.withUnsafeBufferPointer { srcBuf in
                let src = srcBuf.baseAddress!
                for y in 0..<height {
                    let s = src + y * width * 3, d = out + y * width * 3
                    for x in 0..<width {
                        let sx = (width - 1 - x) * 3
                        d[x * 3] = s[sx]; d[x * 3 + 1] = s[sx + 1]; d[x * 3 + 2] = s[sx + 2]
                    }
                }
            }
        }
    }
}
