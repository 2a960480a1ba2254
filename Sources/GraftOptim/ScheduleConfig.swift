import Foundation

/// The one table of schedule names: the command line's `--schedule`, the `schedule` key of the
/// JSON a run configuration is stored as, and the catalog's `schedule` column all use these raw
/// values.
public enum ScheduleKind: String, CaseIterable, Codable, Sendable {
    case constant
    case step
    case triangular, triangular2
    case expRange = "exp_range"
    case onecycle
    case cosineRestarts = "cosine_restarts"
    case blogCyclical = "blog_cyclical"
    case rangeExponential = "range_exp"
    case rangeLinear = "range_linear"

    /// Parses a name case-insensitively; `-` and `_` are interchangeable, and `cyclic`/`clr`
    /// mean triangular, `one_cycle` onecycle, `sgdr` cosine_restarts, `blog` blog_cyclical.
    /// - Throws: `GraftOptimError.unknownSchedule`.
    public init(parsing name: String) throws {
        let key = name.trimmingCharacters(in: .whitespaces).lowercased().replacingOccurrences(of: "-", with: "_")
        switch key {
        case "cyclic", "clr": self = .triangular
        case "one_cycle", "1cycle": self = .onecycle
        case "sgdr", "cosine_warm_restarts": self = .cosineRestarts
        case "blog": self = .blogCyclical
        case "step_decay", "steplr": self = .step
        case "exponential_sweep": self = .rangeExponential
        case "linear_sweep": self = .rangeLinear
        default:
            guard let kind = ScheduleKind(rawValue: key) else { throw GraftOptimError.unknownSchedule(name) }
            self = kind
        }
    }

    /// The cyclical modes, which share `CyclicLR`.
    public var cyclicMode: CyclicLR.Mode? {
        switch self {
        case .triangular: .triangular
        case .triangular2: .triangular2
        case .expRange: .expRange
        default: nil
        }
    }
}

/// A serialisable description of any schedule, for the catalog, checkpoints and the CLI.
/// Encoded flat, named by its `ScheduleKind`:
/// `{"schedule":"triangular","baseLR":0.0005,"maxLR":0.003,"stepSizeUp":…}`. Configurations
/// written before the names were unified (`step_decay`, `cyclic`, `one_cycle`,
/// `cosine_warm_restarts`, `exponential_sweep`, `linear_sweep`) still decode.
public enum ScheduleConfig: Sendable, Equatable, Codable {
    case constant(ConstantLR)
    case stepDecay(StepDecayLR)
    case cyclic(CyclicLR)
    case oneCycle(OneCycleLR)
    case cosineWarmRestarts(CosineAnnealingWarmRestarts)
    case blogCyclical(BlogCyclicalLR)
    case exponentialSweep(ExponentialSweepLR)
    case linearSweep(LinearSweepLR)

    /// The schedule's name, in the one table every surface uses.
    public var kind: ScheduleKind {
        switch self {
        case .constant: .constant
        case .stepDecay: .step
        case .cyclic(let s):
            switch s.mode {
            case .triangular: .triangular
            case .triangular2: .triangular2
            case .expRange: .expRange
            }
        case .oneCycle: .onecycle
        case .cosineWarmRestarts: .cosineRestarts
        case .blogCyclical: .blogCyclical
        case .exponentialSweep: .rangeExponential
        case .linearSweep: .rangeLinear
        }
    }

    /// `kind`'s raw value, as the catalog and reports show it.
    public var name: String { kind.rawValue }

    /// The schedule itself.
    public var schedule: any LRSchedule { stored }

    /// The schedule with its fields, which the JSON holds beside the name.
    private var stored: any LRSchedule & Encodable {
        switch self {
        case .constant(let s): s
        case .stepDecay(let s): s
        case .cyclic(let s): s
        case .oneCycle(let s): s
        case .cosineWarmRestarts(let s): s
        case .blogCyclical(let s): s
        case .exponentialSweep(let s): s
        case .linearSweep(let s): s
        }
    }

    /// Whether the schedule sets momentum (or β1) every step.
    public var cyclesMomentum: Bool {
        switch self {
        case .cyclic(let s): s.momentumRange != nil
        case .oneCycle(let s): s.momentumRange != nil
        default: false
        }
    }

    /// Checks the values the schedules' initialisers require (decoding bypasses them).
    /// - Throws: `GraftOptimError.invalidValue` naming the field.
    public func validate() throws {
        func positive(_ value: Int, _ name: String) throws {
            if value < 1 {
                throw GraftOptimError.invalidValue(name: name, value: "\(value)", reason: "must be at least 1")
            }
        }
        switch self {
        case .stepDecay(let s): try positive(s.stepSize, "stepSize")
        case .cyclic(let s):
            try positive(s.stepSizeUp, "stepSizeUp")
            try positive(s.stepSizeDown, "stepSizeDown")
        case .oneCycle(let s):
            try positive(s.totalSteps - 1, "totalSteps")
            if !(s.pctStart > 0 && s.pctStart < 1) {
                throw GraftOptimError.invalidValue(
                    name: "pctStart", value: "\(s.pctStart)", reason: "must be in (0, 1)")
            }
        case .cosineWarmRestarts(let s):
            try positive(s.t0, "t0")
            try positive(s.tMult, "tMult")
        case .blogCyclical(let s): try positive(s.stepSize, "stepSize")
        case .exponentialSweep(let s):
            try positive(s.total, "total")
            if !(s.startLR > 0 && s.endLR > 0) {
                throw GraftOptimError.invalidValue(
                    name: "startLR", value: "\(s.startLR)", reason: "an exponential sweep needs positive rates")
            }
        case .linearSweep(let s): try positive(s.total, "total")
        case .constant: break
        }
    }

    private enum TypeKey: String, CodingKey { case schedule }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: TypeKey.self)
        let name = try c.decode(String.self, forKey: .schedule)
        let kind = try ScheduleKind(parsing: name)
        switch kind {
        case .constant: self = .constant(try ConstantLR(from: decoder))
        case .step: self = .stepDecay(try StepDecayLR(from: decoder))
        case .triangular, .triangular2, .expRange:
            let cyclic = try CyclicLR(from: decoder)
            // The old name `cyclic` left the mode to its own field; a cyclical name must agree with it.
            if name != "cyclic", cyclic.mode != kind.cyclicMode {
                throw GraftOptimError.invalidValue(
                    name: "mode", value: cyclic.mode.rawValue, reason: "schedule '\(name)' has mode \(kind.rawValue)")
            }
            self = .cyclic(cyclic)
        case .onecycle: self = .oneCycle(try OneCycleLR(from: decoder))
        case .cosineRestarts: self = .cosineWarmRestarts(try CosineAnnealingWarmRestarts(from: decoder))
        case .blogCyclical: self = .blogCyclical(try BlogCyclicalLR(from: decoder))
        case .rangeExponential: self = .exponentialSweep(try ExponentialSweepLR(from: decoder))
        case .rangeLinear: self = .linearSweep(try LinearSweepLR(from: decoder))
        }
        try validate()
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: TypeKey.self)
        try c.encode(kind.rawValue, forKey: .schedule)
        try stored.encode(to: encoder)
    }
}

/// A step count from the command line: `2000` (steps) or `4ep` / `4epochs` / `0.5ep`
/// (epochs × steps per epoch, rounded to the nearest step).
public enum StepCount {
    /// - Throws: `invalidValue` when the text does not parse or gives fewer than one step.
    public static func parse(_ text: String, stepsPerEpoch: Int, name: String = "step size") throws -> Int {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        var number = t
        var perUnit = 1.0
        for suffix in ["epochs", "epoch", "ep"] where t.hasSuffix(suffix) {
            number = String(t.dropLast(suffix.count))
            perUnit = Double(stepsPerEpoch)
            break
        }
        guard let value = Double(number), value.isFinite else {
            throw GraftOptimError.invalidValue(
                name: name, value: text, reason: "expected a step count like 2000 or an epoch count like 4ep")
        }
        let steps = (value * perUnit).rounded()
        guard steps >= 1, steps < Double(Int.max / 4) else {
            throw GraftOptimError.invalidValue(
                name: name, value: text, reason: "must be at least one step (\(stepsPerEpoch) steps per epoch)")
        }
        return Int(steps)
    }
}

/// A learning rate or a range from the command line: `3e-3`, or `5e-4:3e-3` (low:high).
public enum LRRange {
    /// - Throws: `invalidValue` when the text is not one or two positive numbers.
    public static func parse(_ text: String, name: String = "lr") throws -> (low: Double, high: Double?) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            .map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard (1...2).contains(parts.count), parts.allSatisfy({ $0 != nil && $0!.isFinite && $0! >= 0 }) else {
            throw GraftOptimError.invalidValue(
                name: name, value: text, reason: "expected a rate like 3e-3 or a range like 5e-4:3e-3")
        }
        return (parts[0]!, parts.count == 2 ? parts[1]! : nil)
    }
}

/// The schedule-related CLI options, parsed into a `ScheduleConfig` once the number of steps
/// per epoch is known. Step counts accept epochs (`4ep`).
///
/// - `constant`: `lr`.
/// - `step`: `lr`, `stepSize` (decay period), `gamma` (default 0.1).
/// - `triangular`, `triangular2`, `exp_range`: `lr` as `base:max`, `stepSize` (half cycle, up),
///   optional `stepSizeDown`, `gamma` (exp_range, default 1), `momentum` as `base:max` to cycle it.
/// - `onecycle`: `lr` as `max` or `initial:max`, `pctStart` (0.3), `anneal` (cos), `divFactor`
///   (25, or implied by `initial:max`), `finalDivFactor` (1e4), `threePhase`, `momentum`
///   (default `0.85:0.95`; `none` disables cycling); the cycle spans `totalSteps`.
/// - `cosine_restarts`: `lr` as `base` or `eta_min:base`, `stepSize` (T₀), `tMult` (1), `etaMin`.
/// - `blog_cyclical`: `lr` as `min:max` or `max` (then min = max/6, the study's rule), `stepSize`.
/// - `range_exp`, `range_linear`: `lr` as `start:end` over `totalSteps`.
public struct ScheduleArguments: Sendable, Equatable {
    public var kind: ScheduleKind
    public var lr: String?
    public var stepSize: String?
    public var stepSizeDown: String?
    public var gamma: Double?
    public var momentum: String?
    public var pctStart: Double?
    public var anneal: String?
    public var threePhase: Bool = false
    public var divFactor: Double?
    public var finalDivFactor: Double?
    public var tMult: Int?
    public var etaMin: Double?

    public init(kind: ScheduleKind, lr: String? = nil, stepSize: String? = nil) {
        self.kind = kind
        self.lr = lr
        self.stepSize = stepSize
    }

    /// Half-cycle length of `triangular`, `triangular2` and `exp_range` when none is given:
    /// PyTorch's `CyclicLR(step_size_up=2000)` default, in optimizer steps.
    public static let defaultCyclicStepSize = 2000

    /// Defaults this schedule takes for values not given, in words, for the user to see.
    public var defaultsUsed: [String] {
        guard stepSize == nil, kind.cyclicMode != nil else { return [] }
        return [
            "no --step-size given: half cycles of \(Self.defaultCyclicStepSize) steps, PyTorch CyclicLR's step_size_up default (Smith suggests 2-10 epochs, e.g. --step-size 4ep)"
        ]
    }

    /// - Parameters:
    ///   - stepsPerEpoch: optimizer steps per epoch, for `ep` step counts.
    ///   - totalSteps: steps in the whole run (one-cycle and range sweeps span it).
    /// - Throws: `missingValue`, `invalidValue`.
    public func makeConfig(stepsPerEpoch: Int, totalSteps: Int) throws -> ScheduleConfig {
        let owner = "schedule '\(kind.rawValue)'"
        func rates() throws -> (low: Double, high: Double?) {
            guard let lr else { throw GraftOptimError.missingValue(name: "lr", owner: owner) }
            return try LRRange.parse(lr)
        }
        func range() throws -> (Double, Double) {
            let r = try rates()
            guard let high = r.high else {
                throw GraftOptimError.invalidValue(
                    name: "lr", value: lr ?? "", reason: "\(owner) needs a range low:high, e.g. 5e-4:3e-3")
            }
            return (r.low, high)
        }
        func single() throws -> Double {
            let r = try rates()
            guard r.high == nil else {
                throw GraftOptimError.invalidValue(name: "lr", value: lr ?? "", reason: "\(owner) takes a single rate")
            }
            return r.low
        }
        func steps(_ text: String?, _ field: String) throws -> Int {
            guard let text else { throw GraftOptimError.missingValue(name: field, owner: owner) }
            return try StepCount.parse(text, stepsPerEpoch: stepsPerEpoch, name: field)
        }
        func momentumRange(default value: MomentumRange?) throws -> MomentumRange? {
            guard let momentum else { return value }
            if momentum.lowercased() == "none" || momentum.lowercased() == "off" { return nil }
            let r = try LRRange.parse(momentum, name: "momentum")
            guard let high = r.high else {
                throw GraftOptimError.invalidValue(
                    name: "momentum", value: momentum, reason: "expected base:max, e.g. 0.85:0.95")
            }
            return MomentumRange(base: r.low, max: high)
        }
        let config: ScheduleConfig
        switch kind {
        case .constant:
            config = .constant(ConstantLR(lr: try single()))
        case .step:
            config = .stepDecay(
                StepDecayLR(lr: try single(), gamma: gamma ?? 0.1, stepSize: try steps(stepSize, "step size")))
        case .triangular, .triangular2, .expRange:
            let (base, high) = try range()
            let mode = kind.cyclicMode!
            let up = try steps(stepSize ?? String(Self.defaultCyclicStepSize), "step size")
            let down = try stepSizeDown.map {
                try StepCount.parse($0, stepsPerEpoch: stepsPerEpoch, name: "step size down")
            }
            config = .cyclic(
                CyclicLR(
                    baseLR: base, maxLR: high, stepSizeUp: up, stepSizeDown: down, mode: mode,
                    gamma: gamma ?? 1, momentumRange: try momentumRange(default: nil)))
        case .onecycle:
            let r = try rates()
            let maxLR = r.high ?? r.low
            var div = divFactor ?? 25
            if let high = r.high {
                guard r.low > 0 else {
                    throw GraftOptimError.invalidValue(
                        name: "lr", value: lr ?? "", reason: "the initial rate must be positive")
                }
                div = high / r.low
            }
            let annealMode =
                try anneal.map { text -> OneCycleLR.Anneal in
                    guard let a = OneCycleLR.Anneal(rawValue: text.lowercased()) else {
                        throw GraftOptimError.invalidValue(
                            name: "anneal", value: text, reason: "expected cos or linear")
                    }
                    return a
                } ?? .cos
            config = .oneCycle(
                OneCycleLR(
                    maxLR: maxLR, totalSteps: max(totalSteps, 2), pctStart: pctStart ?? 0.3, anneal: annealMode,
                    divFactor: div, finalDivFactor: finalDivFactor ?? 1e4, threePhase: threePhase,
                    momentumRange: try momentumRange(default: MomentumRange(base: 0.85, max: 0.95))))
        case .cosineRestarts:
            let r = try rates()
            let base = r.high ?? r.low
            let floor = r.high != nil ? r.low : (etaMin ?? 0)
            guard (tMult ?? 1) >= 1 else {
                throw GraftOptimError.invalidValue(name: "T_mult", value: "\(tMult ?? 0)", reason: "must be at least 1")
            }
            config = .cosineWarmRestarts(
                CosineAnnealingWarmRestarts(
                    baseLR: base, t0: try steps(stepSize, "T_0 (step size)"), tMult: tMult ?? 1, etaMin: floor))
        case .blogCyclical:
            let r = try rates()
            let high = r.high ?? r.low
            let low = r.high != nil ? r.low : r.low / 6
            config = .blogCyclical(BlogCyclicalLR(minLR: low, maxLR: high, stepSize: try steps(stepSize, "step size")))
        case .rangeExponential, .rangeLinear:
            let (start, end) = try range()
            guard totalSteps >= 1 else { throw GraftOptimError.missingValue(name: "total steps", owner: owner) }
            config =
                kind == .rangeExponential
                ? .exponentialSweep(ExponentialSweepLR(startLR: start, endLR: end, total: totalSteps))
                : .linearSweep(LinearSweepLR(startLR: start, endLR: end, total: totalSteps))
        }
        try config.validate()
        return config
    }
}
