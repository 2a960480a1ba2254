/// Colour adjustments as torchvision applies them to PIL images (`ImageEnhance`): each blends
/// the image with a "degenerate" image, `out = deg + factor * (img - deg)` in float32, then
/// truncates to uint8 with clipping, as Pillow's `ImagingBlend` does.
extension RGB8Image {
    /// ITU-R 601-2 luma as Pillow's `convert("L")` computes it (fixed point, rounded).
    @inline(__always) static func luma(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> UInt8 {
        UInt8(truncatingIfNeeded: (Int(r) * 19595 + Int(g) * 38470 + Int(b) * 7471 + 0x8000) >> 16)
    }

    @inline(__always) static func blend(_ degenerate: Float, _ value: UInt8, _ factor: Float) -> UInt8 {
        let v = degenerate + factor * (Float(value) - degenerate)
        return v <= 0 ? 0 : (v >= 255 ? 255 : UInt8(v))
    }

    /// `ImageEnhance.Brightness(img).enhance(factor)`: blend with black.
    public func adjustedBrightness(_ factor: Float) -> RGB8Image {
        RGB8Image(width: width, height: height) { out in
            pixels.withUnsafeBufferPointer { src in
                for i in 0..<src.count { out[i] = Self.blend(0, src[i], factor) }
            }
        }
    }

    /// `ImageEnhance.Contrast(img).enhance(factor)`: blend with the mean gray level
    /// (`int(mean(L) + 0.5)`).
    public func adjustedContrast(_ factor: Float) -> RGB8Image {
        let n = width * height
        var total = 0
        pixels.withUnsafeBufferPointer { src in
            for i in 0..<n { total += Int(Self.luma(src[3 * i], src[3 * i + 1], src[3 * i + 2])) }
        }
        let mean = Float(Int(Double(total) / Double(max(n, 1)) + 0.5))
        return RGB8Image(width: width, height: height) { out in
            pixels.withUnsafeBufferPointer { src in
                for i in 0..<src.count { out[i] = Self.blend(mean, src[i], factor) }
            }
        }
    }

    /// `ImageEnhance.Color(img).enhance(factor)`: blend with the image's own gray version.
    public func adjustedSaturation(_ factor: Float) -> RGB8Image {
        RGB8Image(width: width, height: height) { out in
            pixels.withUnsafeBufferPointer { src in
                for i in 0..<(width * height) {
                    let g = Float(Self.luma(src[3 * i], src[3 * i + 1], src[3 * i + 2]))
                    out[3 * i] = Self.blend(g, src[3 * i], factor)
                    out[3 * i + 1] = Self.blend(g, src[3 * i + 1], factor)
                    out[3 * i + 2] = Self.blend(g, src[3 * i + 2], factor)
                }
            }
        }
    }
}
