import ArgumentParser
import Foundation
import GraftCatalog
import GraftOptim
import GraftReport
import GraftTraining

struct LRFindCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lr-find",
        abstract: "LR range test: sweep the learning rate, plot the loss, suggest bounds for a cyclical schedule.",
        discussion: "The model, its weights and the optimizer are left exactly as they were.")

    @OptionGroup var modelData: ModelDataOptions
    @OptionGroup var optimizer: OptimizerOptions
    @OptionGroup var catalog: CatalogOptions
    @Option(help: "Lowest learning rate of the sweep.") var startLR: Double = 1e-7
    @Option(help: "Highest learning rate of the sweep.") var endLR: Double = 0.1
    @Option(help: "Epochs the sweep spans (the study used two).") var epochs: Double = 2
    @Option(help: "Steps of the sweep (overrides --epochs).") var steps: Int?
    @Flag(help: "Linear instead of exponential sweep.") var linear = false
    @Option(help: "Where to write the SVG plot.") var plot: String = "out/lr-find.svg"
    @Flag(help: "Do not store the curve in the catalog.") var noCatalog = false
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard startLR.isFinite, endLR.isFinite, startLR >= 0, endLR > startLR else {
            throw ValidationError(
                "--start-lr and --end-lr must be finite with 0 ≤ start < end, got \(startLR) and \(endLR)")
        }
        guard epochs.isFinite && epochs > 0 else { throw ValidationError("--epochs must be positive, got \(epochs)") }
        if let steps, steps < 1 { throw ValidationError("--steps must be at least 1, got \(steps)") }
    }

    mutating func run() throws {
        var tuning = try modelData.fineTuning()
        tuning.optimizer = try optimizer.config()
        let config = tuning.configuration
        let result = try LRFindJob(
            configuration: config, startLR: startLR, endLR: endLR, epochs: epochs, steps: steps,
            linear: linear, batchNormPolicy: modelData.bnPolicy
        )
        .run(catalog: noCatalog ? nil : try catalog.open(), plotPath: plot, showProgress: !json)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(result.result), as: UTF8.self))
            return
        }
        for warning in result.warnings { print("warning: \(warning)") }
        print("LR range test: \(result.result.lrs.count) steps, \(result.result.stop.rawValue)")
        for s in result.result.suggestions {
            var line = "  \(s.name): lr \(Format.lr(s.lr)) (step \(s.step))"
            if let base = s.baseLR { line += ", base lr \(Format.lr(base))" }
            print(line)
        }
        print("plot: \(result.plot.path)")
        if let id = result.catalogId { print("catalog: LR range test \(id)") }
    }
}
