/// A labelled image collection the loader can draw from: a folder of JPEG and PNG images, or
/// arrays in memory.
public protocol Dataset: Sendable {
    var count: Int { get }
    /// Class names, index = label.
    var classNames: [String] { get }
    func label(_ index: Int) -> Int
    /// The image, decoded to RGB. `options` carries the orientation and DCT-scaling choices
    /// (which only JPEGs use); sources that are not image files ignore it.
    /// - Throws: `DataError` naming the file at fault.
    func loadImage(_ index: Int, options: JPEGDecodeOptions) throws -> RGB8Image
    /// A name for the item in messages and split files (for a folder, its relative path).
    func itemName(_ index: Int) -> String
    /// True when `loadImage` decodes image files (`ImageFile`) with every option it is given,
    /// including `resizeAndCenterCrop` (a decode fused with those two transforms); false (the
    /// default) when it ignores the options.
    var decodesJPEG: Bool { get }
}

extension Dataset {
    public func loadImage(_ index: Int) throws -> RGB8Image { try loadImage(index, options: .init()) }
    public func itemName(_ index: Int) -> String { "#\(index)" }
    public var decodesJPEG: Bool { false }
    /// All labels, in order.
    public var labels: [Int] { (0..<count).map(label) }
}
