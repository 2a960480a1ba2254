import Foundation

/// The image operations torchvision's augmentations call on PIL images, written to give Pillow's
/// bytes: `Image.rotate` / `Image.transform(AFFINE)` (libImaging's `Geometry.c`), `ImageEnhance`
/// (`Blend.c`, `Filter.c`), the HSV round trip of `adjust_hue` (`Convert.c`) and `ImageOps`' lookup
/// tables. Every one keeps the image's size; pixels mapped from outside it are filled with 0.
extension RGB8Image {
    // MARK: Geometry

    /// `F.rotate(img, degrees, interpolation, expand=False, center=None, fill=0)`, which is Pillow's
    /// `Image.rotate(degrees, resample, fillcolor=0)`: counter-clockwise about the centre, same size.
    /// Angles that are multiples of 180° (or of 90° on a square) are Pillow's exact transposes.
    public func rotated(degrees: Double, bilinear: Bool) -> RGB8Image {
        let angle = Self.pythonModulo(degrees, 360)
        if angle == 0 { return self }
        if angle == 180 { return transposed(.rotate180) }
        if (angle == 90 || angle == 270) && width == height {
            return transposed(angle == 90 ? .rotate90 : .rotate270)
        }
        // Image.rotate's inverse matrix, cos and sin rounded to 15 decimals as Pillow does.
        let radians = -(angle * (Double.pi / 180))
        let cosA = Self.pythonRound15(cos(radians)), sinA = Self.pythonRound15(sin(radians))
        var m = [cosA, sinA, 0.0, Self.pythonRound15(-sin(radians)), cosA, 0.0]
        let cx = Double(width) / 2, cy = Double(height) / 2
        m[2] = m[0] * -cx + m[1] * -cy + 0.0
        m[5] = m[3] * -cx + m[4] * -cy + 0.0
        m[2] += cx
        m[5] += cy
        return affineTransformed(m, bilinear: bilinear)
    }

    /// `F.affine(img, angle, translate, scale, shear, interpolation, fill=0, center)` on a PIL
    /// image: torchvision's inverse matrix (`_get_inverse_affine_matrix`) handed to Pillow's
    /// `Image.transform(size, AFFINE, matrix, resample)`. Angles and shears are in degrees,
    /// clockwise; `center` defaults to the image centre `(w/2, h/2)`.
    public func affine(
        angle: Double, translate: (x: Int, y: Int), scale: Double, shear: (x: Double, y: Double),
        center: (x: Double, y: Double)? = nil, bilinear: Bool
    ) -> RGB8Image {
        let c = center ?? (Double(width) * 0.5, Double(height) * 0.5)
        let m = Self.inverseAffineMatrix(
            center: c, angle: angle, translate: (Double(translate.x), Double(translate.y)), scale: scale,
            shear: shear)
        return affineTransformed(m, bilinear: bilinear)
    }

    /// torchvision's `_get_inverse_affine_matrix(center, angle, translate, scale, shear)`: the
    /// output-to-input matrix `(a, b, c, d, e, f)` that Pillow's AFFINE transform takes.
    static func inverseAffineMatrix(
        center: (x: Double, y: Double), angle: Double, translate: (x: Double, y: Double), scale: Double,
        shear: (x: Double, y: Double)
    ) -> [Double] {
        let rot = angle * (Double.pi / 180)
        let sx = shear.x * (Double.pi / 180), sy = shear.y * (Double.pi / 180)
        let a = cos(rot - sy) / cos(sy)
        let b = -cos(rot - sy) * tan(sx) / cos(sy) - sin(rot)
        let c = sin(rot - sy) / cos(sy)
        let d = -sin(rot - sy) * tan(sx) / cos(sy) + cos(rot)
        var m = [d, -b, 0.0, -c, a, 0.0].map { $0 / scale }
        m[2] += m[0] * (-center.x - translate.x) + m[1] * (-center.y - translate.y)
        m[5] += m[3] * (-center.x - translate.x) + m[4] * (-center.y - translate.y)
        m[2] += center.x
        m[5] += center.y
        return m
    }

    /// Pillow's `ImagingTransformAffine` into an image of the same size filled with 0: `m` maps an
    /// output pixel centre `(x + 0.5, y + 0.5)` to input coordinates. Nearest neighbour takes
    /// Pillow's three paths (a pure scale/translation table, 16.16 fixed point, floating point);
    /// bilinear is its generic transform with `bilinear_filter32RGB` (truncated, edge-clamped).
    func affineTransformed(_ m: [Double], bilinear: Bool) -> RGB8Image {
        precondition(m.count == 6, "an affine matrix has 6 coefficients")
        let w = width, h = height
        return RGB8Image(width: w, height: h) { out in
            out.update(repeating: 0, count: w * h * 3)
            guard w > 0, h > 0 else { return }
            pixels.withUnsafeBufferPointer { srcBuf in
                let src = srcBuf.baseAddress!
                @inline(__always) func copy(_ x: Int, _ y: Int, _ xin: Int, _ yin: Int) {
                    let s = src + (yin * w + xin) * 3, d = out + (y * w + x) * 3
                    d[0] = s[0]
                    d[1] = s[1]
                    d[2] = s[2]
                }
                if bilinear {
                    Self.bilinearAffine(src, out, width: w, height: h, m)
                } else if m[1] == 0 && m[3] == 0 {
                    // ImagingScaleAffine: one table of source columns, rows stepped in double.
                    var xintab = [Int](repeating: 0, count: w)
                    var xo = m[2] + m[0] * 0.5, yo = m[5] + m[4] * 0.5
                    var xmin = w, xmax = 0
                    for x in 0..<w {
                        let xin = Self.coord(xo)
                        if xin >= 0 && xin < w {
                            xmax = x + 1
                            if x < xmin { xmin = x }
                            xintab[x] = xin
                        }
                        xo += m[0]
                    }
                    for y in 0..<h {
                        let yi = Self.coord(yo)
                        if yi >= 0 && yi < h && xmin < xmax {
                            for x in xmin..<xmax { copy(x, y, xintab[x], yi) }
                        }
                        yo += m[4]
                    }
                } else if Self.fitsFixed(m, 0, 0) && Self.fitsFixed(m, w, h) && Self.fitsFixed(m, 0, h)
                    && Self.fitsFixed(m, w, 0)
                {
                    // affine_fixed: 16.16 fixed point, stepped per pixel and per row.
                    func fix(_ v: Double) -> Int32 { Int32(Self.floor(v * 65536.0 + 0.5)) }
                    let a0 = fix(m[0]), a1 = fix(m[1]), a3 = fix(m[3]), a4 = fix(m[4])
                    var a2 = fix(m[2] + m[0] * 0.5 + m[1] * 0.5), a5 = fix(m[5] + m[3] * 0.5 + m[4] * 0.5)
                    for y in 0..<h {
                        var xx = a2, yy = a5
                        for x in 0..<w {
                            let xin = Int(xx >> 16)
                            if xin >= 0 && xin < w {
                                let yin = Int(yy >> 16)
                                if yin >= 0 && yin < h { copy(x, y, xin, yin) }
                            }
                            xx &+= a0
                            yy &+= a3
                        }
                        a2 &+= a1
                        a5 &+= a4
                    }
                } else {
                    var xo = m[2] + m[1] * 0.5 + m[0] * 0.5, yo = m[5] + m[4] * 0.5 + m[3] * 0.5
                    for y in 0..<h {
                        var xx = xo, yy = yo
                        for x in 0..<w {
                            let xin = Self.coord(xx)
                            if xin >= 0 && xin < w {
                                let yin = Self.coord(yy)
                                if yin >= 0 && yin < h { copy(x, y, xin, yin) }
                            }
                            xx += m[0]
                            yy += m[3]
                        }
                        xo += m[1]
                        yo += m[4]
                    }
                }
            }
        }
    }

    private static func bilinearAffine(
        _ src: UnsafePointer<UInt8>, _ out: UnsafeMutablePointer<UInt8>, width w: Int, height h: Int, _ m: [Double]
    ) {
        @inline(__always) func clipX(_ x: Int) -> Int { x < 0 ? 0 : (x < w ? x : w - 1) }
        @inline(__always) func clipY(_ y: Int) -> Int { y < 0 ? 0 : (y < h ? y : h - 1) }
        for y in 0..<h {
            for x in 0..<w {
                let xo = Double(x) + 0.5, yo = Double(y) + 0.5
                var xin = m[0] * xo + m[1] * yo + m[2]
                var yin = m[3] * xo + m[4] * yo + m[5]
                guard xin >= 0, xin < Double(w), yin >= 0, yin < Double(h) else { continue }
                xin -= 0.5
                yin -= 0.5
                let ix = Self.floor(xin), iy = Self.floor(yin)
                let dx = xin - Double(ix), dy = yin - Double(iy)
                let x0 = clipX(ix) * 3, x1 = clipX(ix + 1) * 3
                let row0 = src + clipY(iy) * w * 3
                let row1: UnsafePointer<UInt8>? = iy + 1 >= 0 && iy + 1 < h ? src + (iy + 1) * w * 3 : nil
                let d = out + (y * w + x) * 3
                for b in 0..<3 {
                    var v1 = Double(Int(row0[x0 + b])) + Double(Int(row0[x1 + b]) - Int(row0[x0 + b])) * dx
                    var v2 = v1
                    if let row1 {
                        v2 = Double(Int(row1[x0 + b])) + Double(Int(row1[x1 + b]) - Int(row1[x0 + b])) * dx
                    }
                    v1 = v1 + (v2 - v1) * dy
                    d[b] = UInt8(v1)
                }
            }
        }
    }

    /// libImaging's `COORD`: -1 for negative coordinates, else truncation.
    @inline(__always) static func coord(_ v: Double) -> Int { v < 0 ? -1 : Int(v) }
    /// libImaging's `FLOOR`.
    @inline(__always) static func floor(_ v: Double) -> Int { v < 0 ? Int(Foundation.floor(v)) : Int(v) }
    /// `check_fixed`: whether corner `(x, y)` maps inside 16.16 fixed point's range.
    @inline(__always) static func fitsFixed(_ m: [Double], _ x: Int, _ y: Int) -> Bool {
        abs(Double(x) * m[0] + Double(y) * m[1] + m[2]) < 32768.0
            && abs(Double(x) * m[3] + Double(y) * m[4] + m[5]) < 32768.0
    }
    /// Python's float `%` (the result takes the divisor's sign).
    static func pythonModulo(_ x: Double, _ y: Double) -> Double {
        var r = fmod(x, y)
        if r != 0 {
            if (y < 0) != (r < 0) { r += y }
        } else {
            r = copysign(0, y)
        }
        return r
    }
    /// Python's `round(x, 15)`: correctly rounded through the decimal string, as CPython does.
    static func pythonRound15(_ x: Double) -> Double { Double(String(format: "%.15f", x)) ?? x }

    /// Pillow's `Image.transpose` for the three rotations by quarter turns (counter-clockwise).
    enum Transpose { case rotate90, rotate180, rotate270 }

    func transposed(_ t: Transpose) -> RGB8Image {
        let w = width, h = height
        let (ow, oh) = t == .rotate180 ? (w, h) : (h, w)
        return RGB8Image(width: ow, height: oh) { out in
            pixels.withUnsafeBufferPointer { srcBuf in
                let src = srcBuf.baseAddress!
                for y in 0..<oh {
                    for x in 0..<ow {
                        let (sx, sy) =
                            switch t {
                            case .rotate90: (w - 1 - y, x)
                            case .rotate180: (w - 1 - x, h - 1 - y)
                            case .rotate270: (y, h - 1 - x)
                            }
                        let s = src + (sy * w + sx) * 3, d = out + (y * ow + x) * 3
                        d[0] = s[0]
                        d[1] = s[1]
                        d[2] = s[2]
                    }
                }
            }
        }
    }

    // MARK: Colour

    /// `F.adjust_hue(img, factor)` on a PIL image: `convert("HSV")`, the hue byte shifted by
    /// `uint8(int32(factor · 255))` with wrap-around, then back to RGB (Pillow's `rgb2hsv` /
    /// `hsv2rgb`, with their float and double steps).
    /// - Precondition: `factor` in [-0.5, 0.5].
    public func adjustedHue(_ factor: Double) -> RGB8Image {
        precondition((-0.5...0.5).contains(factor), "hue factor \(factor) outside [-0.5, 0.5]")
        let shift = UInt8(truncatingIfNeeded: Int32(factor * 255))
        return RGB8Image(width: width, height: height) { out in
            pixels.withUnsafeBufferPointer { src in
                for i in 0..<(width * height) {
                    let r = src[3 * i], g = src[3 * i + 1], b = src[3 * i + 2]
                    var (hh, s, v) = Self.rgbToHSV(r, g, b)
                    hh &+= shift
                    let (ro, go, bo) = Self.hsvToRGB(hh, s, v)
                    out[3 * i] = ro
                    out[3 * i + 1] = go
                    out[3 * i + 2] = bo
                }
            }
        }
    }

    @inline(__always) static func clip8(_ v: Int) -> UInt8 { v <= 0 ? 0 : (v >= 255 ? 255 : UInt8(v)) }

    /// libImaging's `rgb2hsv_row` (following colorsys, in C float/double).
    static func rgbToHSV(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> (UInt8, UInt8, UInt8) {
        let maxc = max(r, g, b), minc = min(r, g, b)
        guard minc != maxc else { return (0, 0, maxc) }
        let cr = Float(maxc - minc)
        let s = cr / Float(maxc)
        let rc = Float(maxc - r) / cr, gc = Float(maxc - g) / cr, bc = Float(maxc - b) / cr
        var h: Float
        if r == maxc {
            h = bc - gc
        } else if g == maxc {
            h = Float(2.0 + Double(rc) - Double(bc))
        } else {
            h = Float(4.0 + Double(gc) - Double(rc))
        }
        h = Float(fmod(Double(h) / 6.0 + 1.0, 1.0))
        return (clip8(Int(Double(h) * 255.0)), clip8(Int(Double(s) * 255.0)), maxc)
    }

    /// libImaging's `hsv2rgb`.
    static func hsvToRGB(_ h: UInt8, _ s: UInt8, _ v: UInt8) -> (UInt8, UInt8, UInt8) {
        guard s != 0 else { return (v, v, v) }
        let i = Int(Foundation.floor(Double(Float(h)) * 6.0 / 255.0))
        let f = Float(Double(Float(h)) * 6.0 / 255.0 - Double(Float(i)))
        let fs = Float(Double(Float(s)) / 255.0)
        let vd = Double(Float(v))
        let p = clip8(Int((vd * (1.0 - Double(fs))).rounded()))
        let q = clip8(Int((vd * (1.0 - Double(fs * f))).rounded()))
        let t = clip8(Int((vd * (1.0 - Double(fs) * (1.0 - Double(f)))).rounded()))
        switch i % 6 {
        case 0: return (v, t, p)
        case 1: return (q, v, p)
        case 2: return (p, v, t)
        case 3: return (p, q, v)
        case 4: return (t, p, v)
        default: return (v, p, q)
        }
    }

    /// `ImageEnhance.Sharpness(img).enhance(factor)`: blend with `img.filter(ImageFilter.SMOOTH)`,
    /// the 3×3 kernel (1 1 1 / 1 5 1 / 1 1 1)/13 in float32, rounded, the border pixels copied.
    public func adjustedSharpness(_ factor: Float) -> RGB8Image {
        let smooth = smoothed()
        return RGB8Image(width: width, height: height) { out in
            smooth.pixels.withUnsafeBufferPointer { deg in
                pixels.withUnsafeBufferPointer { src in
                    for i in 0..<src.count { out[i] = Self.blend(Float(deg[i]), src[i], factor) }
                }
            }
        }
    }

    /// Pillow's `ImagingFilter3x3` with `ImageFilter.SMOOTH` (an image under 3×3 is copied).
    func smoothed() -> RGB8Image {
        guard width >= 3, height >= 3 else { return self }
        let k1: Float = 1 / 13, k5: Float = 5 / 13
        let w = width, h = height
        return RGB8Image(width: w, height: h) { out in
            pixels.withUnsafeBufferPointer { srcBuf in
                let src = srcBuf.baseAddress!
                out.update(from: src, count: w * h * 3)
                for y in 1..<(h - 1) {
                    let up = src + (y - 1) * w * 3, mid = src + y * w * 3, down = src + (y + 1) * w * 3
                    let o = out + y * w * 3
                    for x in 1..<(w - 1) {
                        for c in 0..<3 {
                            let i = x * 3 + c
                            var ss: Float = 0.5
                            ss += Float(down[i - 3]) * k1 + Float(down[i]) * k1 + Float(down[i + 3]) * k1
                            ss += Float(mid[i - 3]) * k1 + Float(mid[i]) * k5 + Float(mid[i + 3]) * k1
                            ss += Float(up[i - 3]) * k1 + Float(up[i]) * k1 + Float(up[i + 3]) * k1
                            ss = ss < 0 ? 0 : (ss > 255 ? 255 : ss)
                            o[i] = UInt8(ss)
                        }
                    }
                }
            }
        }
    }

    // MARK: ImageOps

    /// The image through one 256-entry table per channel (`Image.point`).
    func mapped(_ tables: [[UInt8]]) -> RGB8Image {
        precondition(tables.count == 3 && tables.allSatisfy { $0.count == 256 }, "three 256-entry tables")
        let t0 = tables[0], t1 = tables[1], t2 = tables[2]
        return RGB8Image(width: width, height: height) { out in
            pixels.withUnsafeBufferPointer { src in
                for i in 0..<(width * height) {
                    out[3 * i] = t0[Int(src[3 * i])]
                    out[3 * i + 1] = t1[Int(src[3 * i + 1])]
                    out[3 * i + 2] = t2[Int(src[3 * i + 2])]
                }
            }
        }
    }

    /// Per-channel histograms of 256 bins.
    func histograms() -> [[Int]] {
        var hist = [[Int]](repeating: [Int](repeating: 0, count: 256), count: 3)
        pixels.withUnsafeBufferPointer { src in
            for i in 0..<(width * height) {
                hist[0][Int(src[3 * i])] += 1
                hist[1][Int(src[3 * i + 1])] += 1
                hist[2][Int(src[3 * i + 2])] += 1
            }
        }
        return hist
    }

    /// `ImageOps.posterize(img, bits)`: keep the top `bits` bits of every channel.
    /// - Precondition: `bits` in 1...8.
    public func posterized(bits: Int) -> RGB8Image {
        precondition((1...8).contains(bits), "posterize bits \(bits) outside 1...8")
        let mask = UInt8(truncatingIfNeeded: ~((1 << (8 - bits)) - 1))
        let table = (0..<256).map { UInt8($0) & mask }
        return mapped([table, table, table])
    }

    /// `ImageOps.solarize(img, threshold)`: values at or above `threshold` are inverted.
    public func solarized(threshold: Double) -> RGB8Image {
        let table = (0..<256).map { Double($0) < threshold ? UInt8($0) : UInt8(255 - $0) }
        return mapped([table, table, table])
    }

    /// `ImageOps.autocontrast(img)`: each channel stretched so its lowest value becomes 0 and its
    /// highest 255 (`int(v · scale + offset)`, clipped); a constant channel is left alone.
    public func autocontrasted() -> RGB8Image {
        mapped(
            histograms().map { h in
                guard let lo = h.firstIndex(where: { $0 != 0 }), let hi = h.lastIndex(where: { $0 != 0 }), hi > lo
                else { return (0..<256).map { UInt8($0) } }
                let scale = 255.0 / Double(hi - lo), offset = -Double(lo) * scale
                return (0..<256).map { Self.clip8(Int(Double($0) * scale + offset)) }
            })
    }

    /// `ImageOps.equalize(img)`: each channel through its cumulative histogram, Pillow's integer
    /// steps (`step = (n − last bin) // 255`, table entries clipped to 255).
    public func equalized() -> RGB8Image {
        mapped(
            histograms().map { h in
                let used = h.filter { $0 != 0 }
                let identity = (0..<256).map { UInt8($0) }
                guard used.count > 1 else { return identity }
                let step = (used.reduce(0, +) - used.last!) / 255
                guard step != 0 else { return identity }
                var n = step / 2
                return (0..<256).map { i in
                    defer { n += h[i] }
                    return Self.clip8(n / step)
                }
            })
    }
}
