import GraftTensor

/// A trainable tensor with its gradient. A reference, so optimizers, freezing and the module
/// tree all see the same value.
public final class Parameter {
    /// Every write to `value` (an assignment, or a write through `value.mutablePointer()`)
    /// counts in `version`, so that what is derived from it can tell that it changed.
    public var value: Tensor {
        didSet { version &+= 1 }
    }
    /// Changes whenever `value` is written: what is derived from the value (inference's folded
    /// and transformed weights) is current while the version it was made from is.
    public private(set) var version: UInt64 = 0
    /// Accumulated gradient; `nil` until a backward pass reaches this parameter.
    public var grad: Tensor?
    /// `false` freezes the parameter: no gradient, and no weight-gradient work at all.
    public var requiresGrad: Bool = true

    public init(_ value: Tensor) { self.value = value }

    /// Adds `g` into `grad` (PyTorch accumulates gradients across backward calls).
    public func accumulate(_ g: Tensor) {
        if var existing = grad {
            precondition(existing.shape == g.shape, "gradient shape \(g.shape) vs \(existing.shape)")
            let dst = existing.mutablePointer()
            let src = g.pointer
            for i in 0..<g.count { dst[i] += src[i] }
            grad = existing
        } else {
            grad = g
        }
    }
}

/// A non-trainable state entry (BatchNorm running statistics). Never touched by optimizers.
public final class Buffer {
    /// Every write counts in `version`, as `Parameter.value`'s do.
    public var value: StateValue {
        didSet { version &+= 1 }
    }
    /// Changes whenever `value` is written (as `Parameter.version`).
    public private(set) var version: UInt64 = 0
    public init(_ value: StateValue) { self.value = value }
}

/// What a forward pass must prepare for.
public enum GradientMode: Sendable, Equatable {
    /// Inference: nothing is kept, `backward` must not be called.
    case none
    /// `backward` will run to produce parameter gradients inside this module; nothing below it
    /// needs a gradient, so no input gradient is computed.
    case parameters
    /// `backward` must also return the gradient with respect to the input.
    case input
}

/// Base class of every layer and model.
///
/// Children, parameters and buffers are declared explicitly by each subclass, so keys come out
/// exactly as PyTorch's `state_dict()` names them (`layer1.0.conv1.weight`).
///
/// Forward and backward are explicit: `forward(_:mode:)` keeps what backward needs only when the
/// mode asks for it; `backward(_:)` accumulates gradients of parameters that require them and
/// returns the input gradient only when the forward mode was `.input`.
open class Module {
    /// Train or eval behaviour (BatchNorm statistics, Dropout). Per module, never global.
    public var isTraining: Bool = true

    public init() {}

    /// Direct children with their key (`"layer1"`, `"0"`, `"downsample"`), in PyTorch order.
    open var children: [(name: String, module: Module)] { [] }
    /// This module's own parameters (not its children's), in PyTorch order.
    open var ownParameters: [(name: String, parameter: Parameter)] { [] }
    /// This module's own buffers, in PyTorch order.
    open var ownBuffers: [(name: String, buffer: Buffer)] { [] }

    /// Computes the output, keeping what `backward` needs when `mode` is not `.none`.
    open func forward(_ input: Tensor, mode: GradientMode) -> Tensor {
        fatalError("\(type(of: self)) does not implement forward")
    }

    /// Back-propagates through the last forward pass made with a mode other than `.none`, and
    /// lets go of what that pass kept as soon as it is used (as PyTorch frees its graph), so a
    /// second backward needs a new forward. Returns the input gradient when that mode was
    /// `.input`, otherwise `nil`.
    open func backward(_ outputGradient: Tensor) -> Tensor? {
        fatalError("\(type(of: self)) does not implement backward")
    }

    /// Drops activations kept for backward, so memory is released between steps.
    open func clearSaved() {
        for (_, child) in children { child.clearSaved() }
    }

    /// Inference call: nothing is kept for backward.
    public func callAsFunction(_ input: Tensor) -> Tensor { forward(input, mode: .none) }
}

extension Module {
    /// Every module in the tree with its dotted path (`""` for the root), parents first.
    public func namedModules(prefix: String = "") -> [(name: String, module: Module)] {
        var result: [(String, Module)] = [(prefix, self)]
        for (name, child) in children {
            result += child.namedModules(prefix: prefix.isEmpty ? name : "\(prefix).\(name)")
        }
        return result
    }

    /// All parameters with `state_dict` keys, in PyTorch's `named_parameters()` order.
    public func namedParameters() -> [(name: String, parameter: Parameter)] {
        var result: [(String, Parameter)] = []
        collect(prefix: "") { prefix, module in
            for (name, p) in module.ownParameters { result.append((prefix + name, p)) }
        }
        return result
    }

    /// Parameters that currently require a gradient.
    public func trainableParameters() -> [(name: String, parameter: Parameter)] {
        namedParameters().filter { $0.parameter.requiresGrad }
    }

    public func namedBuffers() -> [(name: String, buffer: Buffer)] {
        var result: [(String, Buffer)] = []
        collect(prefix: "") { prefix, module in
            for (name, b) in module.ownBuffers { result.append((prefix + name, b)) }
        }
        return result
    }

    /// PyTorch's `state_dict()` order: per module, its parameters then its buffers, then the
    /// children recursively.
    public func stateDict() -> StateDict {
        var dict = StateDict()
        collect(prefix: "") { prefix, module in
            for (name, p) in module.ownParameters { dict[prefix + name] = .float(p.value) }
            for (name, b) in module.ownBuffers { dict[prefix + name] = b.value }
        }
        return dict
    }

    private func collect(prefix: String, _ visit: (String, Module) -> Void) {
        visit(prefix, self)
        for (name, child) in children { child.collect(prefix: prefix + name + ".", visit) }
    }

    /// True when this module or any descendant has a parameter that requires a gradient.
    public var hasTrainableParameters: Bool {
        ownParameters.contains { $0.parameter.requiresGrad }
            || children.contains { $0.module.hasTrainableParameters }
    }

    /// Sets train (`true`) or eval (`false`) mode on this module and all descendants.
    public func train(_ on: Bool = true) {
        for (_, m) in namedModules() { m.isTraining = on }
    }

    public func eval() { train(false) }

    /// Freezes (or unfreezes) every parameter in this subtree.
    public func setRequiresGrad(_ on: Bool) {
        for (_, p) in namedParameters() { p.requiresGrad = on }
    }

    /// Clears every parameter's gradient.
    public func zeroGrad() {
        for (_, p) in namedParameters() { p.grad = nil }
    }
}
