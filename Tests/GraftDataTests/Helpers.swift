import Foundation
import GraftData
import GraftTensor
import TestSupport

/// Reads a uint8 `[H, W, 3]` fixture as an image.
func fixtureImage(_ relative: String) throws -> RGB8Image {
    guard case .uint8(let shape, let values) = try NPY.read(Fixtures.url(relative)) else {
        throw DataError.invalidArgument("\(relative): expected a uint8 array")
    }
    return RGB8Image(width: shape[1], height: shape[0], pixels: values)
}

/// (max |a - b|, mean |a - b|) over bytes.
func byteDifference(_ a: RGB8Image, _ b: RGB8Image) -> (max: Int, mean: Double) {
    precondition(a.pixels.count == b.pixels.count)
    var m = 0, total = 0
    for i in 0..<a.pixels.count {
        let d = abs(Int(a.pixels[i]) - Int(b.pixels[i]))
        m = max(m, d)
        total += d
    }
    return (m, Double(total) / Double(max(a.pixels.count, 1)))
}

/// A small in-memory dataset: image `i` is filled with a value derived from `i`, label `i % classes`.
struct MemoryDataset: Dataset {
    var images: [RGB8Image]
    var labelValues: [Int]
    var classNames: [String]
    var count: Int { images.count }
    func label(_ index: Int) -> Int { labelValues[index] }
    func loadImage(_ index: Int, options: JPEGDecodeOptions) throws -> RGB8Image { images[index] }

    static func gradient(count: Int, classes: Int, size: Int = 40) -> MemoryDataset {
        let images = (0..<count).map { i in
            RGB8Image(width: size + i % 3, height: size) { p in
                let w = size + i % 3
                for y in 0..<size {
                    for x in 0..<w {
                        p[(y * w + x) * 3] = UInt8((x * 5 + i) % 256)
                        p[(y * w + x) * 3 + 1] = UInt8((y * 3 + 2 * i) % 256)
                        p[(y * w + x) * 3 + 2] = UInt8((x + y + i * 7) % 256)
                    }
                }
            }
        }
        return MemoryDataset(
            images: images, labelValues: (0..<count).map { $0 % classes },
            classNames: (0..<classes).map { "c\($0)" })
    }
}
