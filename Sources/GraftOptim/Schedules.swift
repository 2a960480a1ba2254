import Foundation

/// A learning-rate schedule as a pure function of the step.
///
/// Step `i` is the 0-based index of an optimizer step: `learningRate(at: i)` is the rate that
/// step uses (PyTorch: read from the param group before `optimizer.step()`, with
/// `scheduler.step()` after it).
///
/// Cyclical schedules also describe their cycles for snapshot ensembles. A **minimum** is a
/// count of completed steps `t ≥ 1` at which a cycle has just ended: the last steps before it
/// ran at the cycle's low learning rate, so weights saved after `t` steps (just before step `t`)
/// sit at a minimum. For the triangular family `learningRate(at: t)` is then also the low point.
public protocol LRSchedule: Sendable {
    /// The learning rate for step `step`.
    func learningRate(at step: Int) -> Double
    /// The momentum (or β1) for step `step`, when the schedule cycles it.
    func momentum(at step: Int) -> Double?
    /// The 0-based cycle that step `step` belongs to; `nil` for schedules without cycles.
    func cycleIndex(at step: Int) -> Int?
    /// Whether `step` completed steps end a cycle (see the protocol's description).
    func isMinimum(at step: Int) -> Bool
    /// Every cycle end `t` with `1 ≤ t ≤ limit`, ascending.
    func minima(upTo limit: Int) -> [Int]
}

extension LRSchedule {
    public func momentum(at step: Int) -> Double? { nil }
    public func cycleIndex(at step: Int) -> Int? { nil }
    public func isMinimum(at step: Int) -> Bool { false }
    public func minima(upTo limit: Int) -> [Int] {
        limit < 1 ? [] : (1...limit).filter { isMinimum(at: $0) }
    }
}

/// A base and a maximum momentum for schedules that cycle momentum opposite to the learning
/// rate (PyTorch's `base_momentum`/`max_momentum`): high momentum while the rate is low.
public struct MomentumRange: Sendable, Equatable, Codable {
    public var base: Double
    public var max: Double
    public init(base: Double, max: Double) {
        self.base = base
        self.max = max
    }
}

/// The same learning rate at every step.
public struct ConstantLR: LRSchedule, Equatable, Codable {
    public var lr: Double
    public init(lr: Double) { self.lr = lr }
    public func learningRate(at step: Int) -> Double { lr }
}

/// Step decay (PyTorch `StepLR`, closed form): `lr · γ^⌊step / stepSize⌋`.
/// - Precondition: `stepSize ≥ 1`.
public struct StepDecayLR: LRSchedule, Equatable, Codable {
    public var lr: Double
    public var gamma: Double
    public var stepSize: Int
    public init(lr: Double, gamma: Double = 0.1, stepSize: Int) {
        precondition(stepSize >= 1, "step size must be at least 1")
        self.lr = lr
        self.gamma = gamma
        self.stepSize = stepSize
    }
    public func learningRate(at step: Int) -> Double { lr * pow(gamma, Double(step / stepSize)) }
}

/// PyTorch's `CyclicLR` (Smith, 2017), with its operation order so values match bit for bit:
/// `cycle = ⌊1 + t/(up+down)⌋`, `x = 1 + t/(up+down) − cycle`, scale `x/r` rising (`r` =
/// up/(up+down)) or `(x−1)/(r−1)` falling, `lr = base + (max−base)·scale·f` with `f` = 1
/// (triangular), `1/2^(cycle−1)` (triangular2) or `γ^t` (exp_range). With momentum cycling,
/// `momentum = max_m − (max_m − base_m)·scale·f`.
/// - Precondition: `stepSizeUp ≥ 1`, `stepSizeDown ≥ 1`.
public struct CyclicLR: LRSchedule, Equatable, Codable {
    /// The amplitude of each cycle: constant (triangular), halved every cycle (triangular2), or
    /// scaled by `γ^t` (exp_range).
    public enum Mode: String, Sendable, Codable, CaseIterable {
        case triangular, triangular2
        case expRange = "exp_range"
    }

    public var baseLR: Double
    public var maxLR: Double
    public var stepSizeUp: Int
    public var stepSizeDown: Int
    public var mode: Mode
    /// `exp_range` decay per step.
    public var gamma: Double
    /// Momentum cycling (`cycle_momentum`), or `nil` to leave momentum alone.
    public var momentumRange: MomentumRange?

    /// - Parameter baseLR: the lowest rate, at the start of each cycle.
    /// - Parameter maxLR: the highest rate, at the top of each cycle (before the mode's scaling).
    /// - Parameter stepSizeUp: steps from the bottom of a cycle to its top.
    /// - Parameter mode: how the amplitude changes from cycle to cycle.
    /// - Parameter gamma: `exp_range`'s decay per step.
    /// - Parameter momentumRange: momentum to cycle opposite to the rate, or nil to leave momentum alone.
    /// - Parameter stepSizeDown: defaults to `stepSizeUp` (symmetric cycles).
    public init(
        baseLR: Double, maxLR: Double, stepSizeUp: Int, stepSizeDown: Int? = nil,
        mode: Mode = .triangular, gamma: Double = 1, momentumRange: MomentumRange? = nil
    ) {
        precondition(stepSizeUp >= 1 && (stepSizeDown ?? 1) >= 1, "cycle step sizes must be at least 1")
        self.baseLR = baseLR
        self.maxLR = maxLR
        self.stepSizeUp = stepSizeUp
        self.stepSizeDown = stepSizeDown ?? stepSizeUp
        self.mode = mode
        self.gamma = gamma
        self.momentumRange = momentumRange
    }

    /// Steps in one full cycle (up + down).
    public var cycleLength: Int { stepSizeUp + stepSizeDown }

    private func scale(at step: Int) -> (scale: Double, factor: Double) {
        let total = Double(stepSizeUp) + Double(stepSizeDown)
        let ratio = Double(stepSizeUp) / total
        let t = Double(step)
        let cycle = (1 + t / total).rounded(.down)
        let x = 1.0 + t / total - cycle
        let scale = x <= ratio ? x / ratio : (x - 1) / (ratio - 1)
        let factor: Double
        switch mode {
        case .triangular: factor = 1
        case .triangular2: factor = 1 / pow(2.0, cycle - 1)
        case .expRange: factor = pow(gamma, t)
        }
        return (scale, factor)
    }

    public func learningRate(at step: Int) -> Double {
        let (s, f) = scale(at: step)
        let height = (maxLR - baseLR) * s
        return baseLR + height * f
    }

    public func momentum(at step: Int) -> Double? {
        guard let m = momentumRange else { return nil }
        let (s, f) = scale(at: step)
        let height = (m.max - m.base) * s
        return m.max - height * f
    }

    public func cycleIndex(at step: Int) -> Int? { max(step, 0) / cycleLength }
    public func isMinimum(at step: Int) -> Bool { step > 0 && step % cycleLength == 0 }
    public func minima(upTo limit: Int) -> [Int] {
        limit < cycleLength ? [] : Array(stride(from: cycleLength, through: limit, by: cycleLength))
    }
}

/// PyTorch's `OneCycleLR` (Smith & Topin): warm up from `maxLR/divFactor` to `maxLR` over
/// `pctStart·totalSteps` steps, then anneal to `maxLR/divFactor/finalDivFactor`
/// (`threePhase`: back down to the initial rate symmetrically, then to the minimum). Momentum
/// moves the opposite way between `max` and `base`. Cosine annealing is
/// `end + (start−end)/2·(cos(π·pct) + 1)`, linear `(end−start)·pct + start`.
/// - Precondition: `totalSteps ≥ 2`. Steps past `totalSteps − 1` repeat the last step's values
///   (PyTorch raises instead).
public struct OneCycleLR: LRSchedule, Equatable, Codable {
    /// The shape of the annealing phases: cosine or linear.
    public enum Anneal: String, Sendable, Codable, CaseIterable {
        case cos, linear
    }

    public var maxLR: Double
    public var totalSteps: Int
    public var pctStart: Double
    public var anneal: Anneal
    public var divFactor: Double
    public var finalDivFactor: Double
    public var threePhase: Bool
    /// Momentum cycling (PyTorch default base 0.85, max 0.95), or `nil`.
    public var momentumRange: MomentumRange?

    public init(
        maxLR: Double, totalSteps: Int, pctStart: Double = 0.3, anneal: Anneal = .cos,
        divFactor: Double = 25, finalDivFactor: Double = 1e4, threePhase: Bool = false,
        momentumRange: MomentumRange? = MomentumRange(base: 0.85, max: 0.95)
    ) {
        precondition(totalSteps >= 2, "one-cycle needs at least two steps")
        self.maxLR = maxLR
        self.totalSteps = totalSteps
        self.pctStart = pctStart
        self.anneal = anneal
        self.divFactor = divFactor
        self.finalDivFactor = finalDivFactor
        self.threePhase = threePhase
        self.momentumRange = momentumRange
    }

    public var initialLR: Double { maxLR / divFactor }
    public var minLR: Double { initialLR / finalDivFactor }

    private struct Phase {
        var endStep: Double
        var startLR: Double, endLR: Double
        var startMomentum: Double, endMomentum: Double
    }

    private var phases: [Phase] {
        let mBase = momentumRange?.base ?? 0, mMax = momentumRange?.max ?? 0
        let total = Double(totalSteps)
        if threePhase {
            return [
                Phase(
                    endStep: pctStart * total - 1, startLR: initialLR, endLR: maxLR, startMomentum: mMax,
                    endMomentum: mBase),
                Phase(
                    endStep: 2 * pctStart * total - 2, startLR: maxLR, endLR: initialLR, startMomentum: mBase,
                    endMomentum: mMax),
                Phase(endStep: total - 1, startLR: initialLR, endLR: minLR, startMomentum: mMax, endMomentum: mMax),
            ]
        }
        return [
            Phase(
                endStep: pctStart * total - 1, startLR: initialLR, endLR: maxLR, startMomentum: mMax, endMomentum: mBase
            ),
            Phase(endStep: total - 1, startLR: maxLR, endLR: minLR, startMomentum: mBase, endMomentum: mMax),
        ]
    }

    private func annealed(_ start: Double, _ end: Double, _ pct: Double) -> Double {
        switch anneal {
        case .cos: end + (start - end) / 2.0 * (cos(Double.pi * pct) + 1)
        case .linear: (end - start) * pct + start
        }
    }

    private func values(at step: Int) -> (lr: Double, momentum: Double) {
        let t = Double(min(max(step, 0), totalSteps - 1))
        let all = phases
        var startStep = 0.0
        for (i, phase) in all.enumerated() {
            if t <= phase.endStep || i == all.count - 1 {
                let pct = (t - startStep) / (phase.endStep - startStep)
                return (
                    annealed(phase.startLR, phase.endLR, pct),
                    annealed(phase.startMomentum, phase.endMomentum, pct)
                )
            }
            startStep = phase.endStep
        }
        return (minLR, momentumRange?.max ?? 0)
    }

    public func learningRate(at step: Int) -> Double { values(at: step).lr }
    public func momentum(at step: Int) -> Double? { momentumRange == nil ? nil : values(at: step).momentum }
    public func cycleIndex(at step: Int) -> Int? { step < totalSteps ? 0 : nil }
    public func isMinimum(at step: Int) -> Bool { step == totalSteps }
    public func minima(upTo limit: Int) -> [Int] { limit >= totalSteps ? [totalSteps] : [] }
}

/// PyTorch's `CosineAnnealingWarmRestarts` (SGDR, Loshchilov & Hutter): within a period of
/// `Tᵢ` steps (`T₀`, then ×`T_mult` each restart), `lr = η_min + (base − η_min)(1 + cos(π·T_cur/Tᵢ))/2`.
/// Cycles end (minima) at `T₀`, `T₀ + T₀·T_mult`, ….
/// - Precondition: `t0 ≥ 1`, `tMult ≥ 1`.
public struct CosineAnnealingWarmRestarts: LRSchedule, Equatable, Codable {
    public var baseLR: Double
    public var t0: Int
    public var tMult: Int
    public var etaMin: Double

    public init(baseLR: Double, t0: Int, tMult: Int = 1, etaMin: Double = 0) {
        precondition(t0 >= 1 && tMult >= 1, "T_0 and T_mult must be at least 1")
        self.baseLR = baseLR
        self.t0 = t0
        self.tMult = tMult
        self.etaMin = etaMin
    }

    /// (cycle index, position in the cycle, cycle length) for a step.
    private func position(_ step: Int) -> (cycle: Int, tCur: Int, tI: Int) {
        var tCur = max(step, 0), tI = t0, cycle = 0
        if tMult == 1 { return (tCur / t0, tCur % t0, t0) }
        while tCur >= tI {
            tCur -= tI
            tI *= tMult
            cycle += 1
        }
        return (cycle, tCur, tI)
    }

    public func learningRate(at step: Int) -> Double {
        let (_, tCur, tI) = position(step)
        return etaMin + (baseLR - etaMin) * (1 + cos(Double.pi * Double(tCur) / Double(tI))) / 2
    }

    public func cycleIndex(at step: Int) -> Int? { position(step).cycle }
    public func isMinimum(at step: Int) -> Bool { step > 0 && position(step).tCur == 0 }
    public func minima(upTo limit: Int) -> [Int] {
        var result: [Int] = []
        var end = t0, length = t0
        while end <= limit {
            result.append(end)
            length *= tMult
            end += length
        }
        return result
    }
}

/// The study's cyclical `LambdaLR` (a triangular cycle written as a lambda, on an optimizer whose
/// base lr is 1): `cycle = ⌊1 + it/(2·stepSize)⌋`, `x = |it/stepSize − 2·cycle + 1|`,
/// `lr = min + (max − min)·max(0, 1 − x)`. Low points at multiples of `2·stepSize`.
/// - Precondition: `stepSize ≥ 1`.
public struct BlogCyclicalLR: LRSchedule, Equatable, Codable {
    public var minLR: Double
    public var maxLR: Double
    public var stepSize: Int

    public init(minLR: Double, maxLR: Double, stepSize: Int) {
        precondition(stepSize >= 1, "step size must be at least 1")
        self.minLR = minLR
        self.maxLR = maxLR
        self.stepSize = stepSize
    }

    public func learningRate(at step: Int) -> Double {
        let it = Double(step), ss = Double(stepSize)
        let cycle = (1 + it / (2 * ss)).rounded(.down)
        let x = abs(it / ss - 2 * cycle + 1)
        return minLR + (maxLR - minLR) * max(0, 1 - x)
    }

    public func cycleIndex(at step: Int) -> Int? { max(step, 0) / (2 * stepSize) }
    public func isMinimum(at step: Int) -> Bool { step > 0 && step % (2 * stepSize) == 0 }
    public func minima(upTo limit: Int) -> [Int] {
        limit < 2 * stepSize ? [] : Array(stride(from: 2 * stepSize, through: limit, by: 2 * stepSize))
    }
}

/// The range test's exponential sweep, in the study's `LambdaLR` form and operation order:
/// `start · exp(it · ln(end/start) / total)` (multiplying first, then dividing, reproduces the
/// recorded rates bit for bit). Reaches `end` at `it = total`, so the last of `total` steps stays below it.
public struct ExponentialSweepLR: LRSchedule, Equatable, Codable {
    public var startLR: Double
    public var endLR: Double
    public var total: Int
    public init(startLR: Double, endLR: Double, total: Int) {
        self.startLR = startLR
        self.endLR = endLR
        self.total = total
    }
    public func learningRate(at step: Int) -> Double {
        startLR * exp(Double(step) * log(endLR / startLR) / Double(total))
    }
}

/// A linear sweep for the range test: `start + (end − start)·it/total`.
public struct LinearSweepLR: LRSchedule, Equatable, Codable {
    public var startLR: Double
    public var endLR: Double
    public var total: Int
    public init(startLR: Double, endLR: Double, total: Int) {
        self.startLR = startLR
        self.endLR = endLR
        self.total = total
    }
    public func learningRate(at step: Int) -> Double {
        startLR + (endLR - startLR) * Double(step) / Double(total)
    }
}
