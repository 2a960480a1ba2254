import Foundation

/// A schedule with every length in optimizer steps: what a `ScheduleConfig` resolves to once the
/// steps per epoch are known, and what the trainer runs. Encoded flat, named by its
/// `ScheduleKind`: `{"schedule":"triangular","baseLR":0.0005,"maxLR":0.003,"stepSizeUp":…}`, the
/// form the catalog's `schedule_params` shows and run configurations were stored in before
/// lengths could be given in epochs. Names from before the names were unified (`step_decay`,
/// `cyclic`, `one_cycle`, `cosine_warm_restarts`, `exponential_sweep`, `linear_sweep`) still decode.
public enum ResolvedSchedule: Sendable, Equatable, Codable {
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
