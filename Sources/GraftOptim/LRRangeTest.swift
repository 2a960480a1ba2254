import Foundation

/// Settings of an LR range test (Smith, 2015; the study ran 1e-7 → 0.1 over two epochs).
public struct LRRangeTestConfig: Sendable, Equatable, Codable {
    /// How the rate rises from `startLR` to `endLR`: exponentially or linearly.
    public enum Sweep: String, Sendable, Codable, CaseIterable {
        case exponential, linear
    }

    public var startLR: Double = 1e-7
    public var endLR: Double = 0.1
    /// Number of steps of the sweep (the study: two epochs' worth).
    public var steps: Int
    public var sweep: Sweep = .exponential
    /// β of the loss smoothing (see `LRRangeTest`).
    public var smoothing: Double = 0.98
    /// Stop when the smoothed loss exceeds this multiple of the best smoothed loss so far.
    public var divergenceFactor: Double = 4
    public var stopOnDivergence: Bool = true

    public init(steps: Int, startLR: Double = 1e-7, endLR: Double = 0.1, sweep: Sweep = .exponential) {
        self.steps = steps
        self.startLR = startLR
        self.endLR = endLR
        self.sweep = sweep
    }

    /// - Throws: `invalidValue` for a non-positive step count, an exponential sweep from a
    ///   non-positive rate, or a smoothing constant outside [0, 1).
    public func validate() throws {
        if steps < 1 {
            throw GraftOptimError.invalidValue(
                name: "steps", value: "\(steps)", reason: "the range test needs at least one step")
        }
        if sweep == .exponential && !(startLR > 0 && endLR > 0) {
            throw GraftOptimError.invalidValue(
                name: "start lr", value: "\(startLR)", reason: "an exponential sweep needs positive rates")
        }
        if !(smoothing >= 0 && smoothing < 1) {
            throw GraftOptimError.invalidValue(name: "smoothing", value: "\(smoothing)", reason: "must be in [0, 1)")
        }
    }

    /// The sweep as a schedule.
    public var schedule: ResolvedSchedule {
        switch sweep {
        case .exponential: .exponentialSweep(ExponentialSweepLR(startLR: startLR, endLR: endLR, total: steps))
        case .linear: .linearSweep(LinearSweepLR(startLR: startLR, endLR: endLR, total: steps))
        }
    }
}

/// What the driver should do after recording a loss.
public enum LRRangeTestDecision: Sendable, Equatable {
    case proceed
    case stop
}

/// Why a range test ended.
public enum LRRangeTestStop: String, Sendable, Codable, Equatable {
    /// All configured steps ran.
    case completed
    /// The smoothed loss exceeded `divergenceFactor` × the best smoothed loss.
    case diverged
    /// A loss was NaN or infinite.
    case nonFiniteLoss = "non_finite_loss"
    /// `result()` was asked for before the sweep ended.
    case incomplete
}

/// A rule that reads a learning rate off a range-test curve; the raw values are what the catalog
/// and `graft lr-find --json` show.
public enum LRRule: String, Sendable, Codable, CaseIterable {
    /// The study's rule: the rate at the minimum smoothed loss ÷ 10 (÷ 6 again for a cyclical base).
    case minLossDiv10 = "min_loss_div10"
    /// torch-lr-finder's: the steepest descent of the smoothed loss.
    case steepest
    /// fastai's: the middle of the longest valley.
    case valley
}

/// One suggested learning rate, with the step of the curve it comes from.
public struct LRSuggestion: Sendable, Equatable, Codable {
    public var rule: LRRule
    public var name: String { rule.rawValue }
    /// The suggested (maximum) learning rate.
    public var lr: Double
    /// The index in the curve the suggestion is read at.
    public var step: Int
    /// A lower bound for a cyclical schedule, where the rule gives one (the study: max/6).
    public var baseLR: Double?

    private enum CodingKeys: String, CodingKey {
        case rule = "name"
        case lr, step, baseLR
    }

    public init(rule: LRRule, lr: Double, step: Int, baseLR: Double? = nil) {
        self.rule = rule
        self.lr = lr
        self.step = step
        self.baseLR = baseLR
    }
}

/// The outcome of a range test: the curve and the suggestions computed from the smoothed losses.
public struct LRRangeTestResult: Sendable, Equatable, Codable {
    public var steps: [Int]
    public var lrs: [Double]
    public var losses: [Double]
    public var smoothedLosses: [Double]
    public var suggestions: [LRSuggestion]
    public var stop: LRRangeTestStop

    public init(
        steps: [Int], lrs: [Double], losses: [Double], smoothedLosses: [Double],
        suggestions: [LRSuggestion], stop: LRRangeTestStop
    ) {
        self.steps = steps
        self.lrs = lrs
        self.losses = losses
        self.smoothedLosses = smoothedLosses
        self.suggestions = suggestions
        self.stop = stop
    }
}

/// The LR range test's bookkeeping, without a model: the driver asks for each step's learning
/// rate, trains one batch, and records the loss.
///
/// ```swift
/// var test = LRRangeTest(config)
/// for step in 0..<config.steps {
///     optimizer.learningRate = test.learningRate(at: step)
///     let loss = trainOneBatch()
///     if test.record(loss: loss) == .stop { break }
/// }
/// let result = test.result()
/// ```
///
/// **Smoothing** is the study's (and fastai's) bias-corrected exponential moving average with
/// β = 0.98: `avg = β·avg + (1−β)·loss`, `smoothed = avg / (1 − β^(i+1))` for the i-th recorded
/// loss (0-based), so early values are not pulled toward the zero start. The test stops when the
/// smoothed loss exceeds 4 × the best smoothed loss so far (that point is kept in the curve), or
/// on a non-finite loss (that point is dropped).
public struct LRRangeTest: Sendable {
    public let config: LRRangeTestConfig
    private let sweep: any LRSchedule
    private var lrs: [Double] = []
    private var losses: [Double] = []
    private var smoothed: [Double] = []
    private var average = 0.0
    private var best = Double.infinity
    private var stopReason: LRRangeTestStop?

    public init(_ config: LRRangeTestConfig) {
        self.config = config
        self.sweep = config.schedule.schedule
        lrs.reserveCapacity(config.steps)
        losses.reserveCapacity(config.steps)
        smoothed.reserveCapacity(config.steps)
    }

    /// The learning rate for step `step` of the sweep.
    public func learningRate(at step: Int) -> Double { sweep.learningRate(at: step) }

    /// Records the loss of the next step (its learning rate is `learningRate(at: recordedCount)`).
    /// - Returns: `.stop` once the test has diverged, met a non-finite loss, or run all its steps.
    @discardableResult
    public mutating func record(loss: Double) -> LRRangeTestDecision {
        if stopReason != nil { return .stop }
        guard loss.isFinite else {
            stopReason = .nonFiniteLoss
            return .stop
        }
        let i = losses.count
        let beta = config.smoothing
        average = beta * average + (1 - beta) * loss
        let value = average / (1 - pow(beta, Double(i + 1)))
        lrs.append(learningRate(at: i))
        losses.append(loss)
        smoothed.append(value)
        if value < best { best = value }
        if config.stopOnDivergence && value > config.divergenceFactor * best {
            stopReason = .diverged
            return .stop
        }
        if losses.count >= config.steps {
            stopReason = .completed
            return .stop
        }
        return .proceed
    }

    /// Losses recorded so far.
    public var recordedCount: Int { losses.count }

    /// The curve and the suggestions (from the smoothed losses, as fastai and torch-lr-finder
    /// compute them from their smoothed histories).
    public func result() -> LRRangeTestResult {
        LRRangeTestResult(
            steps: Array(0..<losses.count), lrs: lrs, losses: losses, smoothedLosses: smoothed,
            suggestions: LRSuggestions.all(lrs: lrs, losses: smoothed, plannedSteps: config.steps),
            stop: stopReason ?? .incomplete)
    }
}

/// Learning-rate suggestions from a range-test curve.
public enum LRSuggestions {
    /// All three rules that apply to the curve: `min_loss_div10`, `steepest`, `valley`.
    /// - Parameter lrs: the learning rate of each step.
    /// - Parameter losses: the (smoothed) loss of each step.
    /// - Parameter plannedSteps: the sweep's configured length (fastai skips the first
    ///   `plannedSteps/10` points for the valley); defaults to the curve's length.
    public static func all(lrs: [Double], losses: [Double], plannedSteps: Int? = nil) -> [LRSuggestion] {
        [
            minimumLossDividedByTen(lrs: lrs, losses: losses),
            steepest(lrs: lrs, losses: losses),
            valley(lrs: lrs, losses: losses, plannedSteps: plannedSteps ?? losses.count),
        ].compactMap { $0 }
    }

    /// The study's rule: the learning rate at the lowest loss (first minimum over the whole
    /// curve) ÷ 10 is the maximum, and ÷ 6 again the base of a cyclical schedule.
    public static func minimumLossDividedByTen(lrs: [Double], losses: [Double]) -> LRSuggestion? {
        let n = min(lrs.count, losses.count)
        var index: Int?
        for i in 0..<n where losses[i].isFinite && (index == nil || losses[i] < losses[index!]) { index = i }
        guard let i = index else { return nil }
        let maxLR = lrs[i] / 10
        return LRSuggestion(rule: .minLossDiv10, lr: maxLR, step: i, baseLR: maxLR / 6)
    }

    /// torch-lr-finder 0.2.2's steepest-gradient rule: drop the first `skipStart` and last
    /// `skipEnd` points, take `numpy.gradient` of the losses, and suggest the rate at its first
    /// minimum. `nil` with fewer than two points left (numpy raises there).
    public static func steepest(lrs: [Double], losses: [Double], skipStart: Int = 10, skipEnd: Int = 5) -> LRSuggestion?
    {
        let n = min(lrs.count, losses.count)
        let end = skipEnd == 0 ? n : n - skipEnd
        guard skipStart >= 0, end - skipStart >= 2 else { return nil }
        let slice = Array(losses[skipStart..<end])
        let g = numpyGradient(slice)
        var best = 0
        for i in 1..<g.count where g[i] < g[best] || (g[best].isNaN && !g[i].isNaN) { best = i }
        return LRSuggestion(rule: .steepest, lr: lrs[skipStart + best], step: skipStart + best)
    }

    /// `numpy.gradient` with unit spacing and `edge_order=1`: one-sided differences at the ends,
    /// `(f[i+1] − f[i−1]) / 2` inside.
    /// - Precondition: at least two values.
    public static func numpyGradient(_ f: [Double]) -> [Double] {
        let n = f.count
        precondition(n >= 2, "numpy.gradient needs at least two values")
        var out = [Double](repeating: 0, count: n)
        out[0] = f[1] - f[0]
        out[n - 1] = f[n - 1] - f[n - 2]
        if n > 2 {
            for i in 1..<(n - 1) { out[i] = (f[i + 1] - f[i - 1]) / 2.0 }
        }
        return out
    }

    /// fastai's `valley` rule. On the curve without its first `plannedSteps/10` and last 5
    /// points (cut at the first NaN), find the longest valley: the longest strictly decreasing
    /// subsequence of losses, by the O(n²) dynamic programme (`lds[i]` = length of the longest
    /// decreasing run ending at `i`; the valley spans `end − lds[end]` … `end`); then suggest the
    /// point about 2/3 of the way down it: `start + ⌊len/3⌋ + ⌊len/6⌋` with `len = end − start`.
    public static func valley(lrs: [Double], losses: [Double], plannedSteps: Int) -> LRSuggestion? {
        let n = min(lrs.count, losses.count)
        let skipStart = plannedSteps / 10
        var end = n - 5
        guard end > skipStart else { return nil }
        if let firstNaN = (skipStart..<end).first(where: { losses[$0].isNaN }) { end = firstNaN }
        guard end > skipStart else { return nil }
        let l = Array(losses[skipStart..<end])
        let count = l.count
        var lds = [Int](repeating: 1, count: count)
        var maxStart = 0, maxEnd = 0
        if count > 1 {
            for i in 1..<count {
                for j in 0..<i {
                    if l[i] < l[j] && lds[i] < lds[j] + 1 { lds[i] = lds[j] + 1 }
                    if lds[maxEnd] < lds[i] {
                        maxEnd = i
                        maxStart = maxEnd - lds[maxEnd]
                    }
                }
            }
        }
        let sections = Double(maxEnd - maxStart) / 3
        let index = maxStart + Int(sections) + Int(sections / 2)
        guard index >= 0, index < count else { return nil }
        return LRSuggestion(rule: .valley, lr: lrs[skipStart + index], step: skipStart + index)
    }
}

/// Something about an optimizer/schedule pairing the user should know.
public enum OptimizerWarning: Sendable, Equatable, CustomStringConvertible {
    /// Momentum cycling was asked for, but the optimizer has no momentum (Adagrad, Adadelta) or
    /// SGD/RMSprop was configured with momentum 0.
    case noMomentumToCycle(OptimizerKind)
    /// Adadelta's lr multiplies its own adaptive step (default 1.0); rates from a range test
    /// or cyclical bounds tuned for SGD mean something else there.
    case adadeltaLearningRateIsMultiplier

    public var description: String {
        switch self {
        case .noMomentumToCycle(let kind):
            kind.hasMomentum
                ? "\(kind.displayName) is configured with momentum 0: cycling momentum turns it on with the schedule's values"
                : "\(kind.displayName) has no momentum to cycle; the schedule's momentum range is ignored"
        case .adadeltaLearningRateIsMultiplier:
            "Adadelta's lr is a multiplier of its adaptive step (PyTorch default 1.0), not a step size"
        }
    }

    /// The warnings that apply to `optimizer` driven by `schedule` (or by the range test when
    /// `schedule` is nil).
    public static func check(_ optimizer: OptimizerConfig, schedule: ScheduleConfig?) -> [OptimizerWarning] {
        var warnings: [OptimizerWarning] = []
        if schedule?.cyclesMomentum == true {
            if !optimizer.kind.hasMomentum {
                warnings.append(.noMomentumToCycle(optimizer.kind))
            } else if (optimizer.kind == .sgd || optimizer.kind == .rmsprop) && optimizer.momentum == 0 {
                warnings.append(.noMomentumToCycle(optimizer.kind))
            }
        }
        if optimizer.kind == .adadelta { warnings.append(.adadeltaLearningRateIsMultiplier) }
        return warnings
    }
}
