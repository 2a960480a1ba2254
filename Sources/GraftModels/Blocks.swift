import Foundation
import GraftNN
import GraftTensor

/// What a frozen block's BatchNorm layers do while the rest trains.
public enum BatchNormPolicy: String, Sendable, Codable, CaseIterable {
    /// Running statistics, not updated (Keras's behaviour; Graft's default).
    case eval
    /// Batch statistics, running statistics updated (PyTorch's behaviour when only
    /// `requires_grad` is cleared).
    case train
}

/// Errors in block names and freeze specifications.
public enum ModelError: LocalizedError, Equatable, CustomStringConvertible {
    case unknownBlock(String, available: [String])
    case unknownArchitecture(String)
    case inputTooSmall(architecture: String, size: Int, minimum: Int)

    public var errorDescription: String? { description }

    public var description: String {
        switch self {
        case .unknownBlock(let name, let available):
            "unknown block '\(name)'; this model has \(available.joined(separator: ", "))"
        case .unknownArchitecture(let name):
            "unknown architecture '\(name)'; known: \(Architecture.allCases.map(\.rawValue).joined(separator: ", "))"
        case .inputTooSmall(let architecture, let size, let minimum):
            "image size \(size) is too small for \(architecture): it needs at least \(minimum)×\(minimum)"
        }
    }
}

/// A model split into named blocks, bottom to top, for freezing and unfreezing:
/// `stem, layer1 … layer4, head` for ResNets, `block1 … block4, head` for the vanilla CNN.
public protocol BlockStructured: Module {
    var blocks: [(name: String, modules: [Module])] { get }
    /// Key prefix of the classifier head in the state dict (`fc.` / `classifier.5.`).
    var headKeyPrefix: String { get }
    /// The layers of the forward pass in order, each with its block (see `Stage`).
    var stages: [Stage] { get }
    func replaceHead(numClasses: Int, seed: UInt64)
}

extension ResNet: BlockStructured {
    public var blocks: [(name: String, modules: [Module])] {
        [
            ("stem", [conv1, bn1]), ("layer1", [layer1]), ("layer2", [layer2]), ("layer3", [layer3]),
            ("layer4", [layer4]), ("head", [fc]),
        ]
    }
    public var headKeyPrefix: String { "fc." }
}

extension VanillaCNN: BlockStructured {
    public var blocks: [(name: String, modules: [Module])] {
        let f = features.layers
        return [
            ("block1", Array(f[0..<4])), ("block2", Array(f[4..<8])), ("block3", Array(f[8..<12])),
            ("block4", Array(f[12..<16])), ("head", [classifier]),
        ]
    }
    public var headKeyPrefix: String { "classifier.5." }
}

extension BlockStructured {
    public var blockNames: [String] { blocks.map(\.name) }

    /// Makes exactly the named blocks trainable and freezes the rest. Frozen blocks' BatchNorm
    /// layers follow `batchNorm` when the model is in train mode; call again after `train()`.
    public func setTrainable(_ names: [String], batchNorm: BatchNormPolicy = .eval) throws {
        let available = blockNames
        for n in names where !available.contains(n) { throw ModelError.unknownBlock(n, available: available) }
        for (name, modules) in blocks {
            let on = names.contains(name)
            for m in modules { m.setRequiresGrad(on) }
        }
        applyBatchNormPolicy(batchNorm)
    }

    /// Freezes every block below `name`; `name` and everything above it train (Keras/fastai's
    /// `freeze_to`).
    public func freeze(upTo name: String, batchNorm: BatchNormPolicy = .eval) throws {
        guard let index = blockNames.firstIndex(of: name) else {
            throw ModelError.unknownBlock(name, available: blockNames)
        }
        try setTrainable(Array(blockNames[index...]), batchNorm: batchNorm)
    }

    /// Names of blocks with at least one trainable parameter.
    public var trainableBlocks: [String] {
        blocks.filter { $0.modules.contains { $0.hasTrainableParameters } }.map(\.name)
    }

    /// Puts BatchNorm layers of fully frozen blocks in eval mode when the policy says so; other
    /// modules keep the model's mode.
    public func applyBatchNormPolicy(_ policy: BatchNormPolicy) {
        guard policy == .eval, isTraining else { return }
        for (_, modules) in blocks {
            for m in modules where !m.hasTrainableParameters {
                for (_, sub) in m.namedModules() where sub is BatchNorm2d { sub.isTraining = false }
            }
        }
    }
}
