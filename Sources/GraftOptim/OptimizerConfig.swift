import Foundation

/// The optimizers Graft implements, named as on the command line.
public enum OptimizerKind: String, CaseIterable, Codable, Sendable {
    case sgd, adagrad, adadelta, rmsprop, adam, adamw, adamax

    /// Parses a CLI name, case-insensitively (`sgd`, `SGD`, `RMSprop`, `AdamW` …).
    /// - Throws: `GraftOptimError.unknownOptimizer` naming the input.
    public init(parsing name: String) throws {
        let key = name.trimmingCharacters(in: .whitespaces).lowercased()
        guard let kind = OptimizerKind(rawValue: key) else { throw GraftOptimError.unknownOptimizer(name) }
        self = kind
    }

    /// PyTorch's class name (`RMSprop`, `AdamW`).
    public var displayName: String {
        switch self {
        case .sgd: "SGD"
        case .adagrad: "Adagrad"
        case .adadelta: "Adadelta"
        case .rmsprop: "RMSprop"
        case .adam: "Adam"
        case .adamw: "AdamW"
        case .adamax: "Adamax"
        }
    }

    /// The hyper-parameters this optimizer has, with PyTorch's names.
    public var hyperParameterNames: [String] {
        switch self {
        case .sgd: ["lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize"]
        case .adagrad: ["lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps", "maximize"]
        case .adadelta: ["lr", "rho", "eps", "weight_decay", "maximize"]
        case .rmsprop: ["lr", "alpha", "eps", "weight_decay", "momentum", "centered", "maximize"]
        case .adam, .adamw: ["lr", "betas", "eps", "weight_decay", "amsgrad", "maximize"]
        case .adamax: ["lr", "betas", "eps", "weight_decay", "maximize"]
        }
    }

    /// Whether a schedule can cycle a momentum term: SGD's and RMSprop's `momentum`, or β1 of
    /// the Adam family (PyTorch's `CyclicLR`/`OneCycleLR` do the same). Adagrad and Adadelta have none.
    public var hasMomentum: Bool {
        switch self {
        case .sgd, .rmsprop, .adam, .adamw, .adamax: true
        case .adagrad, .adadelta: false
        }
    }
}

/// Every hyper-parameter of any Graft optimizer, with PyTorch's defaults for `kind`.
///
/// Fields a kind does not use keep their defaults and are neither encoded nor settable for it.
/// Encoded as one flat JSON object with PyTorch's names:
/// `{"optimizer":"adam","lr":0.001,"betas":[0.9,0.999],"eps":1e-08,"weight_decay":0,…}`;
/// missing keys decode to the defaults.
public struct OptimizerConfig: Sendable, Equatable, Codable {
    public var kind: OptimizerKind
    /// `lr`. For Adadelta a multiplier of the adaptive step (default 1.0), not a step size.
    public var learningRate: Double
    /// SGD and RMSprop momentum (PyTorch convention: weight of the previous buffer).
    public var momentum: Double = 0
    /// SGD dampening: the new gradient enters the buffer with weight `1 − dampening`.
    public var dampening: Double = 0
    public var nesterov: Bool = false
    /// L2 penalty added to the gradient (`g += wd·p`); AdamW decays the weights instead.
    public var weightDecay: Double = 0
    public var maximize: Bool = false
    /// Adagrad: `clr = lr / (1 + (step − 1)·lr_decay)`.
    public var lrDecay: Double = 0
    public var initialAccumulatorValue: Double = 0
    public var eps: Double
    /// Adadelta running-average coefficient.
    public var rho: Double = 0.9
    /// RMSprop smoothing constant.
    public var alpha: Double = 0.99
    public var centered: Bool = false
    public var beta1: Double = 0.9
    public var beta2: Double = 0.999
    public var amsgrad: Bool = false

    /// PyTorch's defaults for `kind`.
    public init(kind: OptimizerKind) {
        self.kind = kind
        switch kind {
        case .sgd: learningRate = 1e-3; eps = 0
        case .adagrad: learningRate = 1e-2; eps = 1e-10
        case .adadelta: learningRate = 1.0; eps = 1e-6
        case .rmsprop: learningRate = 1e-2; eps = 1e-8
        case .adam: learningRate = 1e-3; eps = 1e-8
        case .adamw: learningRate = 1e-3; eps = 1e-8; weightDecay = 1e-2
        case .adamax: learningRate = 2e-3; eps = 1e-8
        }
    }

    /// PyTorch's defaults for the optimizer named `name` (see `OptimizerKind.init(parsing:)`).
    public init(parsing name: String) throws {
        self.init(kind: try OptimizerKind(parsing: name))
    }

    /// The term a schedule cycles: `momentum` for SGD/RMSprop, β1 for Adam/AdamW/Adamax, `nil`
    /// for Adagrad and Adadelta (setting it there does nothing).
    public var cyclableMomentum: Double? {
        get {
            switch kind {
            case .sgd, .rmsprop: momentum
            case .adam, .adamw, .adamax: beta1
            case .adagrad, .adadelta: nil
            }
        }
        set {
            guard let value = newValue else { return }
            switch kind {
            case .sgd, .rmsprop: momentum = value
            case .adam, .adamw, .adamax: beta1 = value
            case .adagrad, .adadelta: break
            }
        }
    }

    /// Sets one hyper-parameter from text, by its PyTorch name (`weight_decay=1e-4`,
    /// `betas=0.9,0.99`, `nesterov=true`). `beta1`/`beta2` are accepted for the Adam family.
    /// - Throws: `unknownHyperParameter` when `kind` has no such parameter, `invalidValue` when
    ///   the text does not parse.
    public mutating func set(_ name: String, to text: String) throws {
        let key = name.trimmingCharacters(in: .whitespaces).lowercased().replacingOccurrences(of: "-", with: "_")
        let hasBetas = kind.hyperParameterNames.contains("betas")
        guard kind.hyperParameterNames.contains(key) || (hasBetas && (key == "beta1" || key == "beta2")) else {
            throw GraftOptimError.unknownHyperParameter(name: name, owner: kind.displayName)
        }
        func number() throws -> Double {
            guard let v = Double(text.trimmingCharacters(in: .whitespaces)), v.isFinite else {
                throw GraftOptimError.invalidValue(name: key, value: text, reason: "expected a number")
            }
            return v
        }
        func flag() throws -> Bool {
            switch text.trimmingCharacters(in: .whitespaces).lowercased() {
            case "true", "1", "yes", "on": return true
            case "false", "0", "no", "off": return false
            default: throw GraftOptimError.invalidValue(name: key, value: text, reason: "expected true or false")
            }
        }
        switch key {
        case "lr": learningRate = try number()
        case "momentum": momentum = try number()
        case "dampening": dampening = try number()
        case "nesterov": nesterov = try flag()
        case "weight_decay": weightDecay = try number()
        case "maximize": maximize = try flag()
        case "lr_decay": lrDecay = try number()
        case "initial_accumulator_value": initialAccumulatorValue = try number()
        case "eps": eps = try number()
        case "rho": rho = try number()
        case "alpha": alpha = try number()
        case "centered": centered = try flag()
        case "amsgrad": amsgrad = try flag()
        case "beta1": beta1 = try number()
        case "beta2": beta2 = try number()
        case "betas":
            let parts = text.split(whereSeparator: { $0 == "," || $0 == ":" })
                .map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.count == 2, let b1 = parts[0], let b2 = parts[1] else {
                throw GraftOptimError.invalidValue(
                    name: key, value: text, reason: "expected two numbers, e.g. 0.9,0.999")
            }
            beta1 = b1
            beta2 = b2
        default:
            throw GraftOptimError.unknownHyperParameter(name: name, owner: kind.displayName)
        }
    }

    /// Checks the ranges PyTorch's constructors check.
    /// - Throws: `invalidValue` naming the first parameter out of range.
    public func validate() throws {
        func check(_ ok: Bool, _ name: String, _ value: Double, _ reason: String) throws {
            if !ok || !value.isFinite {
                throw GraftOptimError.invalidValue(name: name, value: "\(value)", reason: reason)
            }
        }
        try check(learningRate >= 0, "lr", learningRate, "must be ≥ 0")
        try check(weightDecay >= 0, "weight_decay", weightDecay, "must be ≥ 0")
        try check(eps >= 0, "eps", eps, "must be ≥ 0")
        switch kind {
        case .sgd:
            try check(momentum >= 0, "momentum", momentum, "must be ≥ 0")
            if nesterov && (momentum <= 0 || dampening != 0) {
                throw GraftOptimError.invalidValue(
                    name: "nesterov", value: "true", reason: "needs momentum > 0 and dampening 0")
            }
        case .adagrad:
            try check(lrDecay >= 0, "lr_decay", lrDecay, "must be ≥ 0")
            try check(initialAccumulatorValue >= 0, "initial_accumulator_value", initialAccumulatorValue, "must be ≥ 0")
        case .adadelta:
            try check(rho >= 0 && rho <= 1, "rho", rho, "must be in [0, 1]")
        case .rmsprop:
            try check(alpha >= 0, "alpha", alpha, "must be ≥ 0")
            try check(momentum >= 0, "momentum", momentum, "must be ≥ 0")
        case .adam, .adamw, .adamax:
            try check(beta1 >= 0 && beta1 < 1, "betas[0]", beta1, "must be in [0, 1)")
            try check(beta2 >= 0 && beta2 < 1, "betas[1]", beta2, "must be in [0, 1)")
        }
    }

    /// One line for logs and the catalog: `Adam(lr=0.001, betas=(0.9, 0.999), eps=1e-08, …)`.
    public var summary: String {
        let parts = kind.hyperParameterNames.map { name -> String in
            switch name {
            case "lr": "lr=\(learningRate)"
            case "momentum": "momentum=\(momentum)"
            case "dampening": "dampening=\(dampening)"
            case "nesterov": "nesterov=\(nesterov)"
            case "weight_decay": "weight_decay=\(weightDecay)"
            case "maximize": "maximize=\(maximize)"
            case "lr_decay": "lr_decay=\(lrDecay)"
            case "initial_accumulator_value": "initial_accumulator_value=\(initialAccumulatorValue)"
            case "eps": "eps=\(eps)"
            case "rho": "rho=\(rho)"
            case "alpha": "alpha=\(alpha)"
            case "centered": "centered=\(centered)"
            case "betas": "betas=(\(beta1), \(beta2))"
            case "amsgrad": "amsgrad=\(amsgrad)"
            default: name
            }
        }
        return "\(kind.displayName)(\(parts.joined(separator: ", ")))"
    }

    // MARK: Codable

    private enum CodingKeys: String, CodingKey {
        case optimizer, lr, momentum, dampening, nesterov, maximize, eps, rho, alpha, centered, betas, amsgrad
        case weightDecay = "weight_decay"
        case lrDecay = "lr_decay"
        case initialAccumulatorValue = "initial_accumulator_value"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let name = try c.decode(String.self, forKey: .optimizer)
        self.init(kind: try OptimizerKind(parsing: name))
        learningRate = try c.decodeIfPresent(Double.self, forKey: .lr) ?? learningRate
        momentum = try c.decodeIfPresent(Double.self, forKey: .momentum) ?? momentum
        dampening = try c.decodeIfPresent(Double.self, forKey: .dampening) ?? dampening
        nesterov = try c.decodeIfPresent(Bool.self, forKey: .nesterov) ?? nesterov
        weightDecay = try c.decodeIfPresent(Double.self, forKey: .weightDecay) ?? weightDecay
        maximize = try c.decodeIfPresent(Bool.self, forKey: .maximize) ?? maximize
        lrDecay = try c.decodeIfPresent(Double.self, forKey: .lrDecay) ?? lrDecay
        initialAccumulatorValue =
            try c.decodeIfPresent(Double.self, forKey: .initialAccumulatorValue) ?? initialAccumulatorValue
        eps = try c.decodeIfPresent(Double.self, forKey: .eps) ?? eps
        rho = try c.decodeIfPresent(Double.self, forKey: .rho) ?? rho
        alpha = try c.decodeIfPresent(Double.self, forKey: .alpha) ?? alpha
        centered = try c.decodeIfPresent(Bool.self, forKey: .centered) ?? centered
        amsgrad = try c.decodeIfPresent(Bool.self, forKey: .amsgrad) ?? amsgrad
        if let betas = try c.decodeIfPresent([Double].self, forKey: .betas) {
            guard betas.count == 2 else {
                throw GraftOptimError.invalidValue(name: "betas", value: "\(betas)", reason: "expected two numbers")
            }
            beta1 = betas[0]
            beta2 = betas[1]
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind.rawValue, forKey: .optimizer)
        for name in kind.hyperParameterNames {
            switch name {
            case "lr": try c.encode(learningRate, forKey: .lr)
            case "momentum": try c.encode(momentum, forKey: .momentum)
            case "dampening": try c.encode(dampening, forKey: .dampening)
            case "nesterov": try c.encode(nesterov, forKey: .nesterov)
            case "weight_decay": try c.encode(weightDecay, forKey: .weightDecay)
            case "maximize": try c.encode(maximize, forKey: .maximize)
            case "lr_decay": try c.encode(lrDecay, forKey: .lrDecay)
            case "initial_accumulator_value": try c.encode(initialAccumulatorValue, forKey: .initialAccumulatorValue)
            case "eps": try c.encode(eps, forKey: .eps)
            case "rho": try c.encode(rho, forKey: .rho)
            case "alpha": try c.encode(alpha, forKey: .alpha)
            case "centered": try c.encode(centered, forKey: .centered)
            case "betas": try c.encode([beta1, beta2], forKey: .betas)
            case "amsgrad": try c.encode(amsgrad, forKey: .amsgrad)
            default: break
            }
        }
    }
}
