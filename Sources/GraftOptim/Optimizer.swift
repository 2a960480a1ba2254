import Foundation
import GraftNN
import GraftTensor

/// One parameter's optimizer state: its step count and the buffers PyTorch keeps for it, under
/// PyTorch's names (`momentum_buffer`, `sum`, `square_avg`, `acc_delta`, `grad_avg`, `exp_avg`,
/// `exp_avg_sq`, `max_exp_avg_sq`, `exp_inf`).
public struct ParameterState: Sendable {
    /// Optimizer steps this parameter has taken (steps with a gradient).
    public var step: Int
    public var buffers: [String: Tensor]

    public init(step: Int = 0, buffers: [String: Tensor] = [:]) {
        self.step = step
        self.buffers = buffers
    }
}

/// Learning-rate factors by parameter-name prefix, for discriminative learning rates
/// (`layer3` × 0.1, `layer4` × 0.3, `fc` × 1). The longest matching prefix wins; a prefix matches
/// a whole name or a name continuing with `.` after it. Unmatched parameters get 1.
public struct LearningRateFactors: Sendable, Equatable, Codable {
    /// A parameter-name prefix and the factor its learning rate is multiplied by.
    public struct Rule: Sendable, Equatable, Codable {
        public var prefix: String
        public var factor: Double
        public init(prefix: String, factor: Double) {
            self.prefix = prefix
            self.factor = factor
        }
    }

    public var rules: [Rule]

    public init(_ rules: [Rule] = []) { self.rules = rules }

    public init(_ factors: [String: Double]) {
        rules = factors.sorted { $0.key < $1.key }.map { Rule(prefix: $0.key, factor: $0.value) }
    }

    /// The factor for a parameter name.
    public func factor(for name: String) -> Double {
        var best: Rule?
        for rule in rules where Self.matches(prefix: rule.prefix, name: name) {
            if best == nil || rule.prefix.count > best!.prefix.count { best = rule }
        }
        return best?.factor ?? 1
    }

    private static func matches(prefix: String, name: String) -> Bool {
        if prefix.isEmpty || name == prefix { return true }
        return name.hasPrefix(prefix + ".")
    }
}

/// A PyTorch-exact optimizer (SGD, Adagrad, Adadelta, RMSprop, Adam, AdamW, Adamax) over named
/// parameters, using the arithmetic of PyTorch's single-tensor (`foreach=False`) code path in
/// float32, with scalar hyper-parameters rounded to float32 where PyTorch rounds them and bias
/// corrections computed in double.
///
/// Parameters that do not require a gradient, or whose `grad` is nil, are skipped, as PyTorch
/// skips parameters whose grad is None. State is keyed by parameter name, so it survives changes
/// of the parameter list (freezing, gradual unfreezing) and can be exported to a checkpoint with
/// `stateDict()` and restored with `load(stateDict:)`.
///
/// Schedules drive `learningRate` and `momentum` before each `step()`.
public final class Optimizer {
    /// All hyper-parameters; `learningRate` and `momentum` are views into it.
    public var config: OptimizerConfig
    /// The parameters `step()` updates, with their `state_dict` names.
    public var parameters: [(name: String, parameter: Parameter)]
    /// Per-parameter learning-rate factors (discriminative learning rates).
    public var learningRateFactors: LearningRateFactors
    /// Per-parameter state, keyed by parameter name. Entries of parameters no longer in
    /// `parameters` are kept.
    public private(set) var state: [String: ParameterState] = [:]

    /// - Throws: `GraftOptimError.invalidValue` when a hyper-parameter is out of PyTorch's range.
    public init(
        _ config: OptimizerConfig,
        parameters: [(name: String, parameter: Parameter)],
        learningRateFactors: LearningRateFactors = LearningRateFactors()
    ) throws {
        try config.validate()
        self.config = config
        self.parameters = parameters
        self.learningRateFactors = learningRateFactors
    }

    /// The group learning rate (`param_groups[0]["lr"]`), before per-parameter factors.
    public var learningRate: Double {
        get { config.learningRate }
        set { config.learningRate = newValue }
    }

    /// The momentum a schedule cycles: SGD/RMSprop `momentum`, or β1 for Adam, AdamW and
    /// Adamax; `nil` (and setting is ignored) for Adagrad and Adadelta.
    public var momentum: Double? {
        get { config.cyclableMomentum }
        set { config.cyclableMomentum = newValue }
    }

    /// Sets the learning rate, and the momentum when the schedule cycles it, for step `step`
    /// (call before `step()`, as PyTorch reads the param group before `optimizer.step()`).
    public func apply(_ schedule: any LRSchedule, at step: Int) {
        learningRate = schedule.learningRate(at: step)
        if let m = schedule.momentum(at: step) { momentum = m }
    }

    /// Clears the gradients of all parameters.
    public func zeroGrad() {
        for (_, p) in parameters { p.grad = nil }
    }

    /// Forgets all state (step counts and buffers).
    public func resetState() { state = [:] }

    /// Forgets the state of the named parameters (for example after replacing a head).
    public func resetState(for names: some Sequence<String>) {
        for name in names { state[name] = nil }
    }

    /// One optimizer step over every parameter that requires a gradient and has one.
    public func step() {
        for (name, parameter) in parameters {
            guard parameter.requiresGrad, let grad = parameter.grad else { continue }
            precondition(
                grad.count == parameter.value.count,
                "gradient of \(name) has \(grad.count) elements, the parameter \(parameter.value.count)")
            let lr = config.learningRate * learningRateFactors.factor(for: name)
            var s = state.removeValue(forKey: name) ?? ParameterState()
            // A parameter replaced under the same name (a new head) starts afresh.
            if s.buffers.values.contains(where: { $0.shape != parameter.value.shape }) { s = ParameterState() }
            s.step += 1
            UpdateRules.apply(config, lr: lr, parameter: parameter, grad: grad, state: &s)
            state[name] = s
        }
    }

    // MARK: Checkpoint state

    /// Buffer names this optimizer may keep for a parameter.
    public static func bufferNames(for kind: OptimizerKind) -> [String] {
        switch kind {
        case .sgd: ["momentum_buffer"]
        case .adagrad: ["sum"]
        case .adadelta: ["square_avg", "acc_delta"]
        case .rmsprop: ["square_avg", "momentum_buffer", "grad_avg"]
        case .adam, .adamw: ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]
        case .adamax: ["exp_avg", "exp_inf"]
        }
    }

    /// The state flattened for a checkpoint: `"<parameter>/step"` (0-d int64) and
    /// `"<parameter>/<buffer>"` (float32, the parameter's shape), parameters in `parameters`
    /// order first, then state of parameters no longer listed, by name.
    public func stateDict() -> StateDict {
        var dict = StateDict()
        let listed = parameters.map(\.name)
        let listedSet = Set(listed)
        let others = state.keys.filter { !listedSet.contains($0) }.sorted()
        for name in listed + others {
            guard let s = state[name] else { continue }
            dict["\(name)/step"] = .int64(shape: [], values: [Int64(s.step)])
            for buffer in Self.bufferNames(for: config.kind) {
                if let t = s.buffers[buffer] { dict["\(name)/\(buffer)"] = .float(t) }
            }
        }
        return dict
    }

    /// Replaces the state with one exported by `stateDict()`.
    ///
    /// State for names not in `parameters` is accepted and kept (a frozen block's state).
    /// - Throws: `malformedStateKey`, `unexpectedStateBuffer` (a buffer this optimizer never
    ///   keeps), `missingStep`, `stateTypeMismatch`, or `stateShapeMismatch` when a buffer's shape
    ///   differs from its listed parameter's. Nothing changes when it throws.
    public func load(stateDict: StateDict) throws {
        let allowed = Set(Self.bufferNames(for: config.kind))
        let shapes = Dictionary(parameters.map { ($0.name, $0.parameter.value.shape) }, uniquingKeysWith: { a, _ in a })
        var steps: [String: Int] = [:]
        var buffers: [String: [String: Tensor]] = [:]
        for (key, value) in stateDict {
            guard let slash = key.lastIndex(of: "/"), slash != key.startIndex,
                key.index(after: slash) != key.endIndex
            else {
                throw GraftOptimError.malformedStateKey(key)
            }
            let name = String(key[..<slash])
            let field = String(key[key.index(after: slash)...])
            if field == "step" {
                guard case .int64(_, let values) = value, values.count == 1, values[0] >= 0 else {
                    throw GraftOptimError.stateTypeMismatch(key: key, expected: "a non-negative int64 scalar")
                }
                steps[name] = Int(values[0])
                continue
            }
            guard allowed.contains(field) else {
                throw GraftOptimError.unexpectedStateBuffer(key: key, optimizer: config.kind.displayName)
            }
            guard case .float(let tensor) = value else {
                throw GraftOptimError.stateTypeMismatch(key: key, expected: "float32")
            }
            if let expected = shapes[name], expected != tensor.shape {
                throw GraftOptimError.stateShapeMismatch(key: key, expected: expected, found: tensor.shape)
            }
            buffers[name, default: [:]][field] = tensor
        }
        for name in buffers.keys where steps[name] == nil {
            throw GraftOptimError.missingStep(parameter: name)
        }
        var newState: [String: ParameterState] = [:]
        for (name, step) in steps {
            newState[name] = ParameterState(step: step, buffers: buffers[name] ?? [:])
        }
        state = newState
    }
}

/// Builds the optimizer `config` describes over `parameters`.
/// - Throws: `GraftOptimError.invalidValue` for a hyper-parameter out of range.
public func makeOptimizer(
    _ config: OptimizerConfig,
    parameters: [(name: String, parameter: Parameter)],
    learningRateFactors: LearningRateFactors = LearningRateFactors()
) throws -> Optimizer {
    try Optimizer(config, parameters: parameters, learningRateFactors: learningRateFactors)
}
