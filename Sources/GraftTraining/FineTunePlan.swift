import Foundation
import GraftCatalog
import GraftOptim

/// fastai's `fine_tune`, as one run with two phases (`graft finetune`):
///
/// 1. `freezeEpochs` epochs of the head alone, the trunk frozen (its output cached), with a
///    one-cycle to the base rate that warms up nearly all the way (fastai's `pct_start=0.99`);
/// 2. `epochs` epochs of the `unfreeze` blocks, at half the base rate for the head and
///    discriminative rates below it, evenly spaced on a log scale from `1/lrMult` of the head's
///    at the model's lowest block (fastai's `slice(lr/lr_mult, lr)` over its parameter groups). The schedule is fastai's one-cycle (`pct_start=0.3`, `div=5`), or a
///    triangular cycle between a sixth of the rate and the rate (the study's rule), whose minima
///    are snapshots for an ensemble and the points where early stopping may stop.
///
/// The base rate is given, or comes from an LR range test of the first phase's set-up (fastai's
/// `lr_find` on the frozen model) by the study's rule, `min_loss_div10` (`AutoLearningRate`).
public struct FineTunePlan: Sendable, Equatable {
    /// Epochs of the head alone on the frozen trunk (fastai's `freeze_epochs`, 1); 0 unfreezes
    /// from the start.
    public var freezeEpochs = 1
    /// Epochs after unfreezing (fastai's `epochs`).
    public var epochs: Int
    /// The blocks that train after the frozen phase, in any order; the head is added when missing.
    public var unfreeze: [String]
    /// The head's rate over the model's lowest block's (fastai's `lr_mult`, 100).
    public var lrMult = 100.0
    /// The unfrozen phase's schedule: `.onecycle` or a cyclical kind (`.triangular`).
    public var schedule: ScheduleKind = .onecycle
    /// A cyclical schedule's half cycle; nil: an eighth of `epochs`, at least one epoch (as
    /// `graft compare`'s SGD with CLR).
    public var stepSize: StepCount?

    /// A plan of `epochs` epochs after unfreezing `unfreeze`, the other settings fastai's.
    public init(epochs: Int, unfreeze: [String]) {
        self.epochs = epochs
        self.unfreeze = unfreeze
    }

    /// Checks the plan's values against `blockNames`, the model's blocks from the bottom up.
    /// - Throws: `TrainingError.invalidConfiguration` naming the value at fault.
    public func validate(blockNames: [String]) throws {
        func fail(_ field: String, _ value: Any, _ reason: String) -> TrainingError {
            .invalidConfiguration(field: field, value: "\(value)", reason: reason)
        }
        guard freezeEpochs >= 0 else { throw fail("freeze epochs", freezeEpochs, "must be 0 or more") }
        guard epochs >= 1 else { throw fail("epochs", epochs, "must be at least 1") }
        guard lrMult.isFinite, lrMult >= 1 else { throw fail("lr mult", lrMult, "must be a finite number ≥ 1") }
        for name in unfreeze where !blockNames.contains(name) {
            throw fail("unfreeze", name, "not a block of this model; it has \(blockNames.joined(separator: ", "))")
        }
        guard schedule == .onecycle || schedule.cyclicMode != nil else {
            throw fail("schedule", schedule.rawValue, "fine-tuning takes onecycle or a cyclical schedule (triangular)")
        }
        if schedule == .onecycle, let stepSize {
            throw fail("step size", stepSize, "goes with a cyclical schedule, not onecycle")
        }
    }

    /// The blocks of the first phase: the head, the model's top block.
    public func frozenPhaseBlocks(blockNames: [String]) -> [String] { Array(blockNames.suffix(1)) }

    /// The unfrozen blocks in the model's order, the head included.
    public func unfrozenBlocks(blockNames: [String]) -> [String] {
        let wanted = Set(unfreeze + frozenPhaseBlocks(blockNames: blockNames))
        return blockNames.filter(wanted.contains)
    }

    /// The learning-rate factor of each unfrozen block below the head: `lrMult^(-k/(n-1))` for the
    /// block `k` places below the head of a model of `n` blocks. As fastai's `slice(lr/lr_mult, lr)`
    /// spreads over all of a model's parameter groups, frozen ones included, a block's rate depends
    /// on where it sits in the model, not on how many blocks are unfrozen with it.
    public func blockFactors(blockNames: [String]) -> [String: Double] {
        let unfrozen = Set(unfrozenBlocks(blockNames: blockNames))
        guard blockNames.count > 1, lrMult != 1 else { return [:] }
        var factors: [String: Double] = [:]
        for (i, block) in blockNames.dropLast().enumerated() where unfrozen.contains(block) {
            let below = Double(blockNames.count - 1 - i)
            factors[block] = pow(lrMult, -below / Double(blockNames.count - 1))
        }
        return factors
    }

    /// `configuration` with the plan's phases, blocks, schedules and factors, from `baseLR`.
    /// - Parameters:
    ///   - configuration: the run before the plan: model, data, optimizer, what it saves.
    ///   - baseLR: the frozen phase's peak rate; the unfrozen phase's head gets half of it.
    ///   - rule: how `baseLR` was chosen, in words, for the record (nil: given).
    ///   - blockNames: the model's blocks from the bottom up.
    /// - Throws: `TrainingError.invalidConfiguration` for a value out of range.
    public func configure(
        _ configuration: RunConfiguration, baseLR: Double, rule: String?, blockNames: [String]
    ) throws -> RunConfiguration {
        try validate(blockNames: blockNames)
        guard baseLR.isFinite, baseLR > 0 else {
            throw TrainingError.invalidConfiguration(field: "lr", value: "\(baseLR)", reason: "must be positive")
        }
        var config = configuration
        let chosen = rule ?? "given"
        if freezeEpochs > 0 {
            var first = ScheduleConfig(.onecycle, lr: .rate(baseLR))
            first.pctStart = 0.99
            config.firstPhase = TrainingPhase(
                epochs: freezeEpochs, trainable: frozenPhaseBlocks(blockNames: blockNames), schedule: first,
                learningRateRule: "\(chosen): one-cycle to \(Self.format(baseLR)), pct_start 0.99 (fastai fine_tune)")
        } else {
            config.firstPhase = nil
        }
        let rate = baseLR / 2
        var main: ScheduleConfig
        if schedule == .onecycle {
            main = ScheduleConfig(.onecycle, lr: .rate(rate))
            main.pctStart = 0.3
            main.divFactor = 5
        } else {
            main = ScheduleConfig(
                schedule, lr: .range(rate / 6, rate),
                stepSize: stepSize ?? .epochs(Double(max(1, epochs / 8))))
        }
        config.schedule = main
        config.trainable = unfrozenBlocks(blockNames: blockNames)
        config.blockLearningRateFactors = blockFactors(blockNames: blockNames)
        config.epochs = freezeEpochs + epochs
        let bounds = schedule == .onecycle ? Self.format(rate) : "\(Self.format(rate / 6)):\(Self.format(rate))"
        let spread = config.blockLearningRateFactors.sorted { $0.value < $1.value }.map {
            ", \($0.key) ×\(Self.format($0.value))"
        }.joined()
        let mult = config.blockLearningRateFactors.isEmpty ? "" : " (lr_mult \(Self.format(lrMult)))"
        let shape = schedule == .onecycle ? "one-cycle, pct_start 0.3, div 5" : "\(schedule.rawValue), max/6:max"
        config.learningRateRule =
            freezeEpochs > 0
            ? "half of phase 1's rate: \(bounds), \(shape)\(spread)\(mult) (fastai fine_tune)"
            : "half of the base rate (\(chosen)): \(bounds), \(shape)\(spread)\(mult) (fastai fine_tune)"
        try config.validate()
        return config
    }

    /// The base rate by `--lr auto`: from an LR range test of what the first phase trains (fastai's
    /// `lr_find` on the frozen model), or of the unfrozen blocks when there is no such phase;
    /// reused from `catalog` when one of the same set-up is there.
    /// - Returns: the choice; its `learningRate` is a single rate.
    public func autoLearningRate(
        for configuration: RunConfiguration, blockNames: [String], catalog: Catalog, plotPath: String,
        showProgress: Bool = true
    ) throws -> AutoLearningRate {
        var probe = configuration
        probe.trainable =
            freezeEpochs > 0 ? frozenPhaseBlocks(blockNames: blockNames) : unfrozenBlocks(blockNames: blockNames)
        // A one-cycle schedule asks for a single rate.
        probe.schedule = ScheduleConfig(.onecycle, lr: .rate(1e-3))
        probe.firstPhase = nil
        return try AutoLearningRate.choose(for: probe, catalog: catalog, plotPath: plotPath, showProgress: showProgress)
    }

    /// `configuration` with the plan applied, its base rate given or (nil) by `autoLearningRate`,
    /// which is then recorded as the run's `learningRateSource`.
    /// - Returns: the run's configuration, and the automatic choice when one was made.
    public func configure(
        _ configuration: RunConfiguration, learningRate: Double?, blockNames: [String], catalog: Catalog,
        plotPath: String, showProgress: Bool = true
    ) throws -> (configuration: RunConfiguration, auto: AutoLearningRate?) {
        guard learningRate == nil else {
            return (try configure(configuration, baseLR: learningRate!, rule: nil, blockNames: blockNames), nil)
        }
        let auto = try autoLearningRate(
            for: configuration, blockNames: blockNames, catalog: catalog, plotPath: plotPath,
            showProgress: showProgress)
        guard case .rate(let rate) = auto.learningRate else {
            throw TrainingError.invalidConfiguration(
                field: "lr", value: "auto", reason: "the range test gave a range where a rate was asked for")
        }
        var configured = try configure(
            configuration, baseLR: rate, rule: "\(auto.rule.rawValue) of LR range test \(auto.testId)",
            blockNames: blockNames)
        configured.learningRateSource = auto.source
        return (configured, auto)
    }

    static func format(_ value: Double) -> String { String(format: "%.3g", value) }
}
