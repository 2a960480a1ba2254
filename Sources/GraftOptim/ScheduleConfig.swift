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

/// A length in optimizer steps (`2000`) or in epochs (`4ep`, `0.5epochs`), kept as given until
/// the steps per epoch are known, so a configuration is complete before any data is read.
/// Encoded as a number of steps or as the text `"4ep"`.
public enum StepCount: Sendable, Equatable, Codable, CustomStringConvertible {
    case steps(Int)
    case epochs(Double)

    /// Parses `2000`, `4ep`, `4epoch`, `4epochs` or `0.5ep`.
    /// - Throws: `GraftOptimError.invalidValue` for any other text, or a count that is not positive.
    public init(parsing text: String) throws {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        let suffix = ["epochs", "epoch", "ep"].first { t.hasSuffix($0) }
        let number = suffix.map { String(t.dropLast($0.count)) } ?? t
        let reason = "expected a step count like 2000 or an epoch count like 4ep"
        if suffix == nil, let steps = Int(number) {
            self = .steps(steps)
        } else if let value = Double(number), value.isFinite {
            self = suffix == nil ? .steps(Int(value.rounded())) : .epochs(value)
        } else {
            throw GraftOptimError.invalidValue(name: "step count", value: text, reason: reason)
        }
        try check(name: "step count")
    }

    /// - Throws: `GraftOptimError.invalidValue` naming `name` when the count is not positive.
    public func check(name: String) throws {
        switch self {
        case .steps(let n) where n < 1:
            throw GraftOptimError.invalidValue(name: name, value: description, reason: "must be at least 1 step")
        case .epochs(let e) where !(e.isFinite && e > 0):
            throw GraftOptimError.invalidValue(name: name, value: description, reason: "must be a positive epoch count")
        default: break
        }
    }

    /// The count in steps, `stepsPerEpoch` to an epoch, rounded to the nearest step.
    /// - Throws: `GraftOptimError.invalidValue` naming `name` when that is less than one step.
    public func steps(perEpoch stepsPerEpoch: Int, name: String) throws -> Int {
        try check(name: name)
        switch self {
        case .steps(let n): return n
        case .epochs(let e):
            let steps = (e * Double(stepsPerEpoch)).rounded()
            guard steps >= 1, steps < Double(Int.max / 4) else {
                throw GraftOptimError.invalidValue(
                    name: name, value: description,
                    reason: "must be at least one step (\(stepsPerEpoch) steps per epoch)")
            }
            return Int(steps)
        }
    }

    public var description: String {
        switch self {
        case .steps(let n): "\(n)"
        case .epochs(let e): e == e.rounded() && abs(e) < 1e15 ? "\(Int(e))ep" : "\(e)ep"
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let steps = try? c.decode(Int.self) {
            self = .steps(steps)
        } else {
            self = try StepCount(parsing: try c.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .steps(let n): try c.encode(n)
        case .epochs: try c.encode(description)
        }
    }
}

/// A learning rate, or a range of them (`low:high`) for the schedules that move between two.
/// Encoded as a number or as `[low, high]`.
public enum LearningRate: Sendable, Equatable, Codable, CustomStringConvertible {
    case rate(Double)
    case range(Double, Double)

    /// Parses `3e-3` or `5e-4:3e-3`.
    /// - Throws: `GraftOptimError.invalidValue` naming `name` unless the text is one or two
    ///   finite numbers ≥ 0.
    public init(parsing text: String, name: String = "lr") throws {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            .map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard (1...2).contains(parts.count), parts.allSatisfy({ $0 != nil && $0!.isFinite && $0! >= 0 }) else {
            throw GraftOptimError.invalidValue(
                name: name, value: text, reason: "expected a rate like 3e-3 or a range like 5e-4:3e-3")
        }
        self = parts.count == 2 ? .range(parts[0]!, parts[1]!) : .rate(parts[0]!)
    }

    var low: Double {
        switch self {
        case .rate(let r): r
        case .range(let low, _): low
        }
    }

    var high: Double? {
        if case .range(_, let high) = self { return high }
        return nil
    }

    public var description: String {
        switch self {
        case .rate(let r): "\(r)"
        case .range(let low, let high): "\(low):\(high)"
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let rate = try? c.decode(Double.self) {
            self = .rate(rate)
            return
        }
        let pair = try c.decode([Double].self)
        guard pair.count == 2 else {
            throw DecodingError.dataCorruptedError(
                in: c, debugDescription: "a learning-rate range is [low, high], got \(pair.count) numbers")
        }
        self = .range(pair[0], pair[1])
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .rate(let r): try c.encode(r)
        case .range(let low, let high): try c.encode([low, high])
        }
    }
}

/// Whether a cyclical or one-cycle schedule also cycles momentum (or Adam's β1), opposite to the
/// learning rate. Encoded as `"off"` or `[base, max]`.
public enum MomentumCycling: Sendable, Equatable, Codable {
    case off
    case range(MomentumRange)

    /// Parses `base:max` (e.g. `0.85:0.95`), or `none` / `off`.
    /// - Throws: `GraftOptimError.invalidValue` for any other text.
    public init(parsing text: String) throws {
        if ["none", "off"].contains(text.lowercased()) {
            self = .off
            return
        }
        guard case .range(let base, let max) = try? LearningRate(parsing: text, name: "momentum") else {
            throw GraftOptimError.invalidValue(
                name: "momentum", value: text, reason: "expected base:max, e.g. 0.85:0.95, or none")
        }
        self = .range(MomentumRange(base: base, max: max))
    }

    var range: MomentumRange? {
        if case .range(let r) = self { return r }
        return nil
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let text = try? c.decode(String.self) {
            self = try MomentumCycling(parsing: text)
            return
        }
        let pair = try c.decode([Double].self)
        guard pair.count == 2 else {
            throw DecodingError.dataCorruptedError(
                in: c, debugDescription: "a momentum range is [base, max], got \(pair.count) numbers")
        }
        self = .range(MomentumRange(base: pair[0], max: pair[1]))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .off: try c.encode("off")
        case .range(let r): try c.encode([r.base, r.max])
        }
    }
}

/// A learning-rate schedule as a run's configuration holds it: typed values, with lengths in
/// steps or in epochs. Complete and checkable (`validate()`) before any data is read; the trainer
/// resolves it to a `ResolvedSchedule` once it knows the steps per epoch.
///
/// Each kind reads the fields it needs; every other field must be nil:
/// - `constant`: `lr` (default: the optimizer's learning rate).
/// - `step`: `lr`, `stepSize` (decay period), `gamma` (default 0.1).
/// - `triangular`, `triangular2`, `exp_range`: `lr` as `low:high`, `stepSize` (half cycle, up;
///   default 2000 steps, PyTorch's), `stepSizeDown`, `gamma` (exp_range, default 1), `momentum`
///   (default off).
/// - `onecycle`: `lr` as `max` or `initial:max`, `pctStart` (0.3), `anneal` (cos), `divFactor`
///   (25, or implied by `initial:max`), `finalDivFactor` (1e4), `threePhase`, `momentum`
///   (default 0.85:0.95); the cycle spans `totalSteps`, default the whole run.
/// - `cosine_restarts`: `lr` as `base` or `eta_min:base`, `stepSize` (T₀), `tMult` (1), `etaMin`.
/// - `blog_cyclical`: `lr` as `min:max` or `max` (then min = max/6, the study's rule), `stepSize`.
/// - `range_exp`, `range_linear`: `lr` as `start:end` over `totalSteps`, default the whole run.
public struct ScheduleConfig: Sendable, Equatable, Codable {
    public var kind: ScheduleKind
    /// nil: the optimizer's learning rate.
    public var lr: LearningRate?
    public var stepSize: StepCount?
    public var stepSizeDown: StepCount?
    /// Length of a one-cycle schedule or a sweep; nil: the whole run.
    public var totalSteps: StepCount?
    public var gamma: Double?
    /// nil: the schedule's default (on for one-cycle, off for the cyclical modes).
    public var momentum: MomentumCycling?
    public var pctStart: Double?
    public var anneal: OneCycleLR.Anneal?
    public var threePhase: Bool = false
    public var divFactor: Double?
    public var finalDivFactor: Double?
    public var tMult: Int?
    public var etaMin: Double?

    public init(_ kind: ScheduleKind = .constant, lr: LearningRate? = nil, stepSize: StepCount? = nil) {
        self.kind = kind
        self.lr = lr
        self.stepSize = stepSize
    }

    /// A constant learning rate; nil keeps the optimizer's.
    public static func constant(_ lr: Double? = nil) -> ScheduleConfig {
        ScheduleConfig(.constant, lr: lr.map { .rate($0) })
    }

    /// Smith's triangular cyclical schedule between `low` and `high`, `stepSize` up and as long down.
    public static func triangular(_ low: Double, _ high: Double, stepSize: StepCount) -> ScheduleConfig {
        ScheduleConfig(.triangular, lr: .range(low, high), stepSize: stepSize)
    }

    /// Half-cycle length of `triangular`, `triangular2` and `exp_range` when none is given:
    /// PyTorch's `CyclicLR(step_size_up=2000)` default, in optimizer steps.
    public static let defaultCyclicStepSize = 2000

    /// `kind`'s raw value, as the catalog and reports show it.
    public var name: String { kind.rawValue }

    /// Defaults this schedule takes for values not given, in words, for the user to see.
    public var defaultsUsed: [String] {
        guard stepSize == nil, kind.cyclicMode != nil else { return [] }
        return [
            "no step size given: half cycles of \(Self.defaultCyclicStepSize) steps, PyTorch CyclicLR's step_size_up default (Smith suggests 2-10 epochs)"
        ]
    }

    /// Whether the schedule sets momentum (or β1) every step.
    public var cyclesMomentum: Bool {
        switch kind {
        case .triangular, .triangular2, .expRange: momentum?.range != nil
        case .onecycle: momentum != .off
        default: false
        }
    }

    /// Checks everything that does not depend on the data: the fields this kind needs are there
    /// and in range, and it has no field it would ignore.
    /// - Throws: `GraftOptimError.missingValue` or `.invalidValue` naming the field.
    public func validate() throws {
        _ = try build(optimizerLR: 1, totalSteps: StepCount.steps(1)) { count, name in
            try count.check(name: name)
            return 1_000
        }
    }

    /// The schedule in optimizer steps.
    /// - Parameters:
    ///   - stepsPerEpoch: optimizer steps per epoch, for lengths given in epochs.
    ///   - runSteps: steps in the whole run (one-cycle and the sweeps span it unless `totalSteps`
    ///     is given).
    ///   - optimizerLR: the rate when `lr` is nil.
    /// - Throws: `GraftOptimError.missingValue` or `.invalidValue` naming the field.
    public func resolve(stepsPerEpoch: Int, runSteps: Int, optimizerLR: Double) throws -> ResolvedSchedule {
        try build(optimizerLR: optimizerLR, totalSteps: .steps(max(runSteps, 1))) { count, name in
            try count.steps(perEpoch: stepsPerEpoch, name: name)
        }
    }

    private func build(
        optimizerLR: Double, totalSteps runLength: StepCount, steps: (StepCount, String) throws -> Int
    ) throws -> ResolvedSchedule {
        let owner = "schedule '\(kind.rawValue)'"
        let rates = lr ?? .rate(optimizerLR)
        func range() throws -> (Double, Double) {
            guard case .range(let low, let high) = rates else {
                throw GraftOptimError.invalidValue(
                    name: "lr", value: lr?.description ?? "none",
                    reason: "\(owner) needs a range low:high, e.g. 5e-4:3e-3")
            }
            return (low, high)
        }
        func single() throws -> Double {
            guard case .rate(let rate) = rates else {
                throw GraftOptimError.invalidValue(
                    name: "lr", value: rates.description, reason: "\(owner) takes a single rate")
            }
            return rate
        }
        func required(_ count: StepCount?, _ name: String) throws -> Int {
            guard let count else { throw GraftOptimError.missingValue(name: name, owner: owner) }
            return try steps(count, name)
        }
        func unused(_ fields: [(String, Bool)]) throws {
            if let (name, _) = fields.first(where: { $0.1 }) {
                throw GraftOptimError.unknownHyperParameter(name: name, owner: owner)
            }
        }
        let cycles = kind.cyclicMode != nil || kind == .onecycle
        try unused([
            ("momentum", momentum != nil && !cycles),
            ("step size", stepSize != nil && [.constant, .onecycle, .rangeExponential, .rangeLinear].contains(kind)),
            ("step size down", stepSizeDown != nil && kind.cyclicMode == nil),
            ("total steps", totalSteps != nil && ![.onecycle, .rangeExponential, .rangeLinear].contains(kind)),
            ("gamma", gamma != nil && ![.step, .triangular, .triangular2, .expRange].contains(kind)),
            ("pct start", pctStart != nil && kind != .onecycle), ("anneal", anneal != nil && kind != .onecycle),
            ("three phase", threePhase && kind != .onecycle), ("div factor", divFactor != nil && kind != .onecycle),
            ("final div factor", finalDivFactor != nil && kind != .onecycle),
            ("T_mult", tMult != nil && kind != .cosineRestarts), ("eta min", etaMin != nil && kind != .cosineRestarts),
        ])
        let schedule: ResolvedSchedule
        switch kind {
        case .constant:
            schedule = .constant(ConstantLR(lr: try single()))
        case .step:
            schedule = .stepDecay(
                StepDecayLR(lr: try single(), gamma: gamma ?? 0.1, stepSize: try required(stepSize, "step size")))
        case .triangular, .triangular2, .expRange:
            let (low, high) = try range()
            let up = try steps(stepSize ?? .steps(Self.defaultCyclicStepSize), "step size")
            let down = try stepSizeDown.map { try steps($0, "step size down") }
            schedule = .cyclic(
                CyclicLR(
                    baseLR: low, maxLR: high, stepSizeUp: up, stepSizeDown: down, mode: kind.cyclicMode!,
                    gamma: gamma ?? 1, momentumRange: momentum?.range))
        case .onecycle:
            var div = divFactor ?? 25
            if case .range(let initial, let high) = rates {
                guard initial > 0 else {
                    throw GraftOptimError.invalidValue(
                        name: "lr", value: rates.description, reason: "the initial rate must be positive")
                }
                if divFactor != nil { throw GraftOptimError.unknownHyperParameter(name: "div factor", owner: owner) }
                div = high / initial
            }
            schedule = .oneCycle(
                OneCycleLR(
                    maxLR: rates.high ?? rates.low,
                    totalSteps: max(try steps(totalSteps ?? runLength, "total steps"), 2),
                    pctStart: pctStart ?? 0.3, anneal: anneal ?? .cos, divFactor: div,
                    finalDivFactor: finalDivFactor ?? 1e4, threePhase: threePhase,
                    momentumRange: (momentum ?? .range(MomentumRange(base: 0.85, max: 0.95))).range))
        case .cosineRestarts:
            guard (tMult ?? 1) >= 1 else {
                throw GraftOptimError.invalidValue(name: "T_mult", value: "\(tMult ?? 0)", reason: "must be at least 1")
            }
            if rates.high != nil, etaMin != nil {
                throw GraftOptimError.invalidValue(
                    name: "eta min", value: "\(etaMin!)", reason: "the range eta_min:base already gives it")
            }
            schedule = .cosineWarmRestarts(
                CosineAnnealingWarmRestarts(
                    baseLR: rates.high ?? rates.low, t0: try required(stepSize, "T_0 (step size)"), tMult: tMult ?? 1,
                    etaMin: rates.high != nil ? rates.low : (etaMin ?? 0)))
        case .blogCyclical:
            let high = rates.high ?? rates.low
            schedule = .blogCyclical(
                BlogCyclicalLR(
                    minLR: rates.high != nil ? rates.low : high / 6, maxLR: high,
                    stepSize: try required(stepSize, "step size")))
        case .rangeExponential, .rangeLinear:
            let (start, end) = try range()
            let total = try steps(totalSteps ?? runLength, "total steps")
            schedule =
                kind == .rangeExponential
                ? .exponentialSweep(ExponentialSweepLR(startLR: start, endLR: end, total: total))
                : .linearSweep(LinearSweepLR(startLR: start, endLR: end, total: total))
        }
        try schedule.validate()
        return schedule
    }

    /// The configuration that resolves to `resolved` exactly, every length in steps.
    public init(_ resolved: ResolvedSchedule) {
        self.init(resolved.kind)
        switch resolved {
        case .constant(let s): lr = .rate(s.lr)
        case .stepDecay(let s):
            (lr, gamma, stepSize) = (.rate(s.lr), s.gamma, .steps(s.stepSize))
        case .cyclic(let s):
            (lr, stepSize, stepSizeDown, gamma) = (
                .range(s.baseLR, s.maxLR), .steps(s.stepSizeUp), .steps(s.stepSizeDown), s.gamma
            )
            momentum = s.momentumRange.map { .range($0) }
        case .oneCycle(let s):
            (lr, totalSteps, pctStart, anneal) = (.rate(s.maxLR), .steps(s.totalSteps), s.pctStart, s.anneal)
            (divFactor, finalDivFactor, threePhase) = (s.divFactor, s.finalDivFactor, s.threePhase)
            momentum = s.momentumRange.map { .range($0) } ?? .off
        case .cosineWarmRestarts(let s):
            (lr, stepSize, tMult, etaMin) = (.rate(s.baseLR), .steps(s.t0), s.tMult, s.etaMin)
        case .blogCyclical(let s):
            (lr, stepSize) = (.range(s.minLR, s.maxLR), .steps(s.stepSize))
        case .exponentialSweep(let s):
            (lr, totalSteps) = (.range(s.startLR, s.endLR), .steps(s.total))
        case .linearSweep(let s):
            (lr, totalSteps) = (.range(s.startLR, s.endLR), .steps(s.total))
        }
    }

    private enum CodingKeys: String, CodingKey {
        case kind = "schedule"
        case lr, stepSize, stepSizeDown, totalSteps, gamma, momentum, pctStart, anneal, threePhase, divFactor,
            finalDivFactor, tMult, etaMin
    }

    /// Keys only the step-resolved form has: a configuration stored before lengths could be given
    /// in epochs.
    private enum ResolvedOnlyKey: String, CodingKey, CaseIterable {
        case baseLR, maxLR, minLR, startLR, endLR, stepSizeUp, t0, total, momentumRange, mode
    }

    public init(from decoder: any Decoder) throws {
        let legacy = try decoder.container(keyedBy: ResolvedOnlyKey.self)
        if ResolvedOnlyKey.allCases.contains(where: legacy.contains) {
            self.init(try ResolvedSchedule(from: decoder))
            return
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var config = ScheduleConfig(try ScheduleKind(parsing: try c.decode(String.self, forKey: .kind)))
        config.lr = try c.decodeIfPresent(LearningRate.self, forKey: .lr)
        config.stepSize = try c.decodeIfPresent(StepCount.self, forKey: .stepSize)
        config.stepSizeDown = try c.decodeIfPresent(StepCount.self, forKey: .stepSizeDown)
        config.totalSteps = try c.decodeIfPresent(StepCount.self, forKey: .totalSteps)
        config.gamma = try c.decodeIfPresent(Double.self, forKey: .gamma)
        config.momentum = try c.decodeIfPresent(MomentumCycling.self, forKey: .momentum)
        config.pctStart = try c.decodeIfPresent(Double.self, forKey: .pctStart)
        config.anneal = try c.decodeIfPresent(OneCycleLR.Anneal.self, forKey: .anneal)
        config.threePhase = try c.decodeIfPresent(Bool.self, forKey: .threePhase) ?? false
        config.divFactor = try c.decodeIfPresent(Double.self, forKey: .divFactor)
        config.finalDivFactor = try c.decodeIfPresent(Double.self, forKey: .finalDivFactor)
        config.tMult = try c.decodeIfPresent(Int.self, forKey: .tMult)
        config.etaMin = try c.decodeIfPresent(Double.self, forKey: .etaMin)
        try config.validate()
        self = config
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind.rawValue, forKey: .kind)
        try c.encodeIfPresent(lr, forKey: .lr)
        try c.encodeIfPresent(stepSize, forKey: .stepSize)
        try c.encodeIfPresent(stepSizeDown, forKey: .stepSizeDown)
        try c.encodeIfPresent(totalSteps, forKey: .totalSteps)
        try c.encodeIfPresent(gamma, forKey: .gamma)
        try c.encodeIfPresent(momentum, forKey: .momentum)
        try c.encodeIfPresent(pctStart, forKey: .pctStart)
        try c.encodeIfPresent(anneal, forKey: .anneal)
        if threePhase { try c.encode(threePhase, forKey: .threePhase) }
        try c.encodeIfPresent(divFactor, forKey: .divFactor)
        try c.encodeIfPresent(finalDivFactor, forKey: .finalDivFactor)
        try c.encodeIfPresent(tMult, forKey: .tMult)
        try c.encodeIfPresent(etaMin, forKey: .etaMin)
    }
}
