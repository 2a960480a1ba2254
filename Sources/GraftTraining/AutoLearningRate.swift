import Foundation
import GraftCatalog
import GraftData
import GraftOptim
import GraftSupport

/// The rule and the catalog's LR range test a run's learning rates came from (`--lr auto`).
public struct LearningRateSource: Codable, Sendable, Equatable {
    /// The rule applied to the test's curve.
    public var rule: LRRule
    /// The catalog's LR range test.
    public var lrRangeTestId: Int64
}

/// `--lr auto`: learning rates from an LR range test of the same set-up (model and weights,
/// data, trainable blocks, BatchNorm policy, batch size, seed, optimizer), run once and kept in
/// the catalog; a later run of the same set-up reuses it.
///
/// The rule is the study's, `min_loss_div10`: the rate at the smoothed loss's minimum divided by
/// 10 is the rate (or a cyclical schedule's upper bound, with a sixth of it as the lower bound).
/// A curve still falling at the sweep's end has no minimum to divide: then fastai's `valley`.
public struct AutoLearningRate: Sendable, Equatable {
    /// The rate or bounds chosen, to put into the schedule.
    public var learningRate: LearningRate
    /// The rule that chose them, by its catalog name.
    public var rule: LRRule
    /// The catalog's LR range test they come from.
    public var testId: Int64
    /// Whether that test was found in the catalog rather than run now.
    public var reused: Bool

    /// What a run records of this choice.
    public var source: LearningRateSource { LearningRateSource(rule: rule, lrRangeTestId: testId) }

    /// The choice in words: `min_loss_div10 of LR range test 3 (reused): 5.00e-04:3.00e-03`.
    public var description: String {
        let rates =
            switch learningRate {
            case .rate(let r): String(format: "%.2e", r)
            case .range(let low, let high): String(format: "%.2e:%.2e", low, high)
            }
        return "\(rule.rawValue) of LR range test \(testId) (\(reused ? "reused" : "run now")): \(rates)"
    }

    /// The sweep `--lr auto` runs: fastai's `lr_find` defaults, 100 steps from 1e-7 to 10 (stopping
    /// when the loss diverges), going round the training images as often as that takes. Fewer
    /// steps would leave a small set's curve too coarse to read a minimum from.
    public static let sweep = (startLR: 1e-7, endLR: 10.0, steps: 100)

    /// The learning rate for `configuration`'s schedule kind, from a matching LR range test in
    /// `catalog`, or from one run now and recorded there.
    /// - Parameters:
    ///   - configuration: the run; its schedule's kind says whether a range or a rate is needed.
    ///   - catalog: where tests are looked up and recorded.
    ///   - plotPath: where a test run now draws its curve.
    ///   - showProgress: a progress bar while a test runs.
    /// - Throws: `TrainingError.invalidConfiguration` when the test finds no minimum; the errors
    ///   of preparing the run's data and model.
    public static func choose(
        for configuration: RunConfiguration, catalog: Catalog, plotPath: String, showProgress: Bool = true
    ) throws -> AutoLearningRate {
        let prepared = try TrainingRun.prepare(configuration, splitDirectory: catalog.splitsDirectory)
        let sweep = Self.sweep
        let setup = try setupFingerprint(configuration)
        var test: Catalog.LRTestResult?
        for record in try catalog.lrRangeTests(modelId: configuration.modelId)
        where record.optimizer == configuration.optimizer.kind.rawValue && record.startLr == sweep.startLR
            && record.endLr == sweep.endLR && record.steps == sweep.steps && storedSetup(record.config) == setup
        {
            test = try catalog.lrRangeTest(id: record.id!)
            break
        }
        let reused = test != nil
        if test == nil {
            var job = LRFindJob(
                configuration: configuration, startLR: sweep.startLR, endLR: sweep.endLR, steps: sweep.steps,
                batchNormPolicy: configuration.batchNormPolicy)
            job.setup = setup
            let output = try job.run(
                catalog: catalog, plotPath: plotPath, showProgress: showProgress, prepared: prepared)
            test = try catalog.lrRangeTest(id: output.catalogId!)
        }
        let rule: LRRule = test.map { Self.rule(for: $0) } ?? .minLossDiv10
        guard let test, let id = test.test.id,
            let max = test.suggestions.first(where: { $0.method == rule.rawValue })?.lr
        else {
            throw TrainingError.invalidConfiguration(
                field: "lr", value: "auto",
                reason: "the LR range test found no loss minimum to take the rate from; give --lr")
        }
        let base = test.suggestions.first { $0.method == rule.rawValue + "_base" }?.lr ?? max / 6
        let cyclical = configuration.schedule.kind.cyclicMode != nil
        return AutoLearningRate(
            learningRate: cyclical ? .range(base, max) : .rate(max), rule: rule, testId: id, reused: reused)
    }

    /// The study's rule, `min_loss_div10`, unless the curve has no minimum to take a tenth of: the
    /// loss still falling in the sweep's last tenth, as a head on frozen features often does up
    /// to rates of 10. Then fastai's `valley` (the middle of the longest descent), which needs none.
    static func rule(for test: Catalog.LRTestResult) -> LRRule {
        guard let minimum = test.suggestions.first(where: { $0.method == LRRule.minLossDiv10.rawValue }) else {
            return .minLossDiv10
        }
        return rule(
            minimumLossLR: minimum.lr * 10, curveLRs: test.points.map { $0.lr },
            hasValley: test.suggestions.contains { $0.method == LRRule.valley.rawValue })
    }

    /// The rule for a curve whose smoothed loss is lowest at `minimumLossLR`, over the rates
    /// `curveLRs` in sweep order.
    static func rule(minimumLossLR: Double, curveLRs: [Double], hasValley: Bool) -> LRRule {
        guard hasValley, curveLRs.count >= 10 else { return .minLossDiv10 }
        let lastTenth = curveLRs[curveLRs.count - curveLRs.count / 10]
        return minimumLossLR >= lastTenth * (1 - 1e-9) ? .valley : .minLossDiv10
    }

    /// SHA-256 of what the range test's curve depends on besides its sweep: the model and the
    /// contents of its starting weights, the data, the trainable blocks, the BatchNorm policy,
    /// the batch size, the seed and the optimizer's settings.
    static func setupFingerprint(_ configuration: RunConfiguration) throws -> String {
        struct Setup: Encodable {
            var modelId: String
            var architecture: String
            var weightsSHA256: String?
            var data: DataSpecification
            var trainable: [String]
            var batchNormPolicy: String
            var batchSize: Int
            var seed: UInt64
            var optimizer: OptimizerConfig
        }
        let setup = Setup(
            modelId: configuration.modelId, architecture: configuration.architecture,
            weightsSHA256: try configuration.weights.map { try SHA256.hex(of: URL(fileURLWithPath: $0)) },
            data: configuration.data, trainable: configuration.trainable,
            batchNormPolicy: configuration.batchNormPolicy.rawValue, batchSize: configuration.batchSize,
            seed: configuration.seed, optimizer: configuration.optimizer)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return SHA256.hex(of: try encoder.encode(setup))
    }

    /// The `setup` a stored test's configuration JSON carries, if any.
    static func storedSetup(_ json: String) -> String? {
        let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        return object?["setup"] as? String
    }
}
