import Foundation

extension RGB8Image {
    /// The image shrunk (never enlarged) so that its longer side is at most `maximumSide`, with
    /// the aspect ratio kept and Pillow's antialiased bilinear filter (`Image.thumbnail`).
    /// - Parameter maximumSide: the longest side allowed, at least 1.
    public func thumbnail(maximumSide: Int) -> RGB8Image {
        let side = max(1, maximumSide)
        guard max(width, height) > side else { return self }
        let scale = Double(side) / Double(max(width, height))
        let w = max(1, min(side, Int((Double(width) * scale).rounded())))
        let h = max(1, min(side, Int((Double(height) * scale).rounded())))
        return resizedBilinear(width: w, height: h)
    }

    /// A JPEG thumbnail (see `thumbnail(maximumSide:)`) for a page or a catalog row; a gray image
    /// is written with one channel.
    /// - Parameters:
    ///   - maximumSide: the longest side allowed.
    ///   - quality: JPEG quality, 1...100.
    /// - Throws: `DataError` when libjpeg refuses the pixels.
    public func jpegThumbnail(maximumSide: Int = 96, quality: Int = 85) throws -> Data {
        let small = thumbnail(maximumSide: maximumSide)
        var gray = true
        small.pixels.withUnsafeBufferPointer { p in
            var i = 0
            while i < p.count {
                if p[i] != p[i + 1] || p[i] != p[i + 2] { gray = false; break }
                i += 3
            }
        }
        return try JPEG.encode(small, quality: quality, grayscale: gray)
    }
}
