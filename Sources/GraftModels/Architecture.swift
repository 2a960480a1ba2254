import Foundation

/// The architectures Graft builds: the one owner of their names, their block names, the smallest
/// input they take and how to build them.
public enum Architecture: String, CaseIterable, Sendable, Codable {
    case resnet18, resnet34
    case vanillaCNN = "vanilla-cnn"

    /// Parses a name as run configurations, cards and weights files write it (`resnet34`,
    /// `vanilla-cnn`; case and `_` for `-` do not matter).
    /// - Throws: `ModelError.unknownArchitecture` listing the known names.
    public init(named name: String) throws {
        let key = name.lowercased().replacingOccurrences(of: "_", with: "-")
        guard let architecture = Architecture(rawValue: key == "vanillacnn" ? "vanilla-cnn" : key) else {
            throw ModelError.unknownArchitecture(name)
        }
        self = architecture
    }

    /// The ResNet depth, nil for the vanilla CNN.
    public var resNetDepth: ResNet.Depth? {
        switch self {
        case .resnet18: .resnet18
        case .resnet34: .resnet34
        case .vanillaCNN: nil
        }
    }

    /// A model with a freshly initialised `numClasses`-way head.
    public func make(numClasses: Int, seed: UInt64 = 0) -> any BlockStructured {
        if let depth = resNetDepth { return ResNet(depth: depth, numClasses: numClasses, seed: seed) }
        return VanillaCNN(numClasses: numClasses, seed: seed)
    }

    /// Block names bottom to top, as `BlockStructured.blockNames` gives them, without building
    /// a model.
    public var blockNames: [String] {
        resNetDepth == nil
            ? ["block1", "block2", "block3", "block4", "head"]
            : ["stem", "layer1", "layer2", "layer3", "layer4", "head"]
    }

    /// `name` and every block above it: what trains under Keras's and fastai's `freeze_to`.
    /// - Throws: `ModelError.unknownBlock` listing the blocks.
    public func blocks(from name: String) throws -> [String] {
        guard let index = blockNames.firstIndex(of: name) else {
            throw ModelError.unknownBlock(name, available: blockNames)
        }
        return Array(blockNames[index...])
    }

    /// The smallest square input: the vanilla CNN's four 2×2 max-pools need 16 pixels (each
    /// halves the image); a ResNet's five stride-2 stages need 32, below which layer4's windows
    /// see nothing but padding.
    public var minimumInputSize: Int { resNetDepth == nil ? 16 : 32 }

    /// - Throws: `ModelError.inputTooSmall` when `size` is below `minimumInputSize`.
    public func checkInputSize(_ size: Int) throws {
        guard size >= minimumInputSize else {
            throw ModelError.inputTooSmall(architecture: rawValue, size: size, minimum: minimumInputSize)
        }
    }
}
