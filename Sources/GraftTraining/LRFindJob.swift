import Foundation
import GraftCatalog
import GraftModels
import GraftNN
import GraftOptim
import GraftReport

/// `graft lr-find` as a library call: build the model and data, run the range test, plot it,
/// store it in the catalog.
public struct LRFindJob {
    public var configuration: RunConfiguration
    public var startLR: Double
    public var endLR: Double
    public var epochs: Double
    public var steps: Int?
    public var linear: Bool
    public var batchNormPolicy: BatchNormPolicy
    /// A fingerprint of the set-up, kept with the test so `--lr auto` can find it again.
    public var setup: String?

    public init(
        configuration: RunConfiguration, startLR: Double = 1e-7, endLR: Double = 0.1, epochs: Double = 2,
        steps: Int? = nil, linear: Bool = false, batchNormPolicy: BatchNormPolicy = .eval
    ) {
        self.configuration = configuration
        self.startLR = startLR
        self.endLR = endLR
        self.epochs = epochs
        self.steps = steps
        self.linear = linear
        self.batchNormPolicy = batchNormPolicy
    }

    /// The range test's result, its plot, its catalog id and what it warns of.
    public struct Output {
        public var result: LRRangeTestResult
        public var plot: URL
        public var catalogId: Int64?
        public var warnings: [String]
    }

    public func run(
        catalog: Catalog?, plotPath: String, showProgress: Bool = true, prepared: PreparedRun? = nil
    ) throws -> Output {
        let prepared = try prepared ?? TrainingRun.prepare(configuration, splitDirectory: catalog?.splitsDirectory)
        let stepCount = steps ?? max(10, Int((Double(prepared.train.batchesPerEpoch) * epochs).rounded()))
        var testConfig = LRRangeTestConfig(
            steps: stepCount, startLR: startLR, endLR: endLR,
            sweep: linear ? .linear : .exponential)
        try testConfig.validate()
        testConfig.stopOnDivergence = true
        let optimizer = try Optimizer(configuration.optimizer, parameters: prepared.model.namedParameters())
        let bar = showProgress ? ProgressBar(total: stepCount, label: "lr range test") : nil
        let result = try LRFinder.run(
            model: prepared.model, optimizer: optimizer, source: prepared.train, config: testConfig,
            trainableBlocks: configuration.trainable, batchNormPolicy: batchNormPolicy,
            onStep: { step, lr, loss in
                bar?.update(step: step + 1, metrics: [("loss", Format.compact(loss)), ("lr", Format.lr(lr))])
            })
        bar?.finish(summary: "lr range test: \(result.lrs.count) steps (\(result.stop.rawValue))")
        let plotURL = URL(fileURLWithPath: plotPath)
        try FileManager.default.createDirectory(
            at: plotURL.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Self.plot(
            result, title: "LR range test: \(configuration.modelId), \(configuration.optimizer.kind.rawValue)"
        )
        .write(to: plotURL)
        var catalogId: Int64?
        if let catalog {
            let record = LRTestRecord(
                modelId: configuration.modelId, optimizer: configuration.optimizer.kind.rawValue,
                startLr: startLR, endLr: endLR, steps: stepCount,
                config: Self.storedConfig(testConfig, setup: setup))
            let points = result.lrs.indices.map {
                LRTestPointRecord(
                    step: result.steps[$0], lr: result.lrs[$0], loss: result.losses[$0],
                    smoothedLoss: result.smoothedLosses[$0])
            }
            var suggestions = result.suggestions.map { LRSuggestionRecord(method: $0.name, lr: $0.lr) }
            for s in result.suggestions where s.baseLR != nil {
                suggestions.append(LRSuggestionRecord(method: s.name + "_base", lr: s.baseLR!))
            }
            catalogId = try catalog.saveLRRangeTest(record, points: points, suggestions: suggestions).test.id
        }
        let warnings = OptimizerWarning.check(configuration.optimizer, schedule: nil).map(\.description)
        return Output(result: result, plot: plotURL, catalogId: catalogId, warnings: warnings)
    }

    /// The test's settings as the catalog keeps them, with the set-up's fingerprint when known.
    static func storedConfig(_ config: LRRangeTestConfig, setup: String?) -> String {
        guard let json = try? CatalogJSON.encode(config) else { return "{}" }
        guard let setup, let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
            let data = try? JSONSerialization.data(
                withJSONObject: object.merging(["setup": setup]) { $1 }, options: .sortedKeys)
        else { return json }
        return String(decoding: data, as: UTF8.self)
    }

    /// Loss against learning rate on a log axis, raw and smoothed, with every suggestion marked.
    public static func plot(_ result: LRRangeTestResult, title: String) -> LinePlot {
        var plot = LinePlot(title: title, xLabel: "learning rate", yLabel: "loss", xScale: .log10)
        plot.series = [
            PlotSeries(name: "loss", x: result.lrs, y: result.losses, color: "#BBBBBB"),
            PlotSeries(name: "smoothed loss", x: result.lrs, y: result.smoothedLosses),
        ]
        plot.markers = result.suggestions.map { .vertical(x: $0.lr, label: "\($0.name) \(Format.lr($0.lr))") }
        // Diverged tails dwarf the interesting part: cap the y range at 1.5× the larger of the first
        // and the best smoothed loss.
        if let best = result.smoothedLosses.filter(\.isFinite).min(),
            let first = result.smoothedLosses.first(where: \.isFinite)
        {
            let top = max(first, best) * 1.5
            plot.yRange = min(best, result.losses.filter(\.isFinite).min() ?? best) * 0.95...max(top, best * 1.1)
        }
        return plot
    }
}
