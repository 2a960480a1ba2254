import Foundation
import ArgumentParser
import GraftCatalog
import GraftOptim
import GraftStudy
import GraftTraining

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Train one model with several optimizers, several runs each, and compare them.",
        discussion: """
            Every (optimizer, run) is a catalog run of one comparison, on the same split, with seed = --seed + run.
            Running the same command again picks up where it stopped: finished runs are kept, interrupted ones resume.
            'sgd-clr' is SGD (momentum 0.9) with a triangular cyclical learning rate between max/6 and max, max from
            --clr-max or an LR range test (the study's rule: lr at the minimum loss / 10). Adaptive optimizers use
            PyTorch's defaults unless --lr-for gives a rate.
            """)

    @OptionGroup var modelData: ModelDataOptions
    @OptionGroup var catalog: CatalogOptions
    @Option(help: "Optimizers, comma-separated: adagrad, adadelta, rmsprop, adam, adamax, adamw, sgd, sgd-clr.")
    var optimizers: String = "adagrad,adadelta,rmsprop,adam,adamax,sgd-clr"
    @Option(help: "Runs per optimizer.") var runs: Int = 3
    @Option(help: "Epochs per run.") var epochs: Int = 10
    @Option(help: "Upper learning rate of sgd-clr (default: from an LR range test).") var clrMax: Double?
    @Option(help: "Half-cycle length of sgd-clr in epochs.") var clrStep: Int?
    @Option(help: "Learning rate for an entry, e.g. adam=3e-4 (repeatable).") var lrFor: [String] = []
    @Option(help: "Trainings side by side, in separate processes.") var jobs: Int = 1
    @Option(help: "Comparison name (default: derived from model, data and optimizers).") var name: String?
    @Option(help: "Retention per run, e.g. best:3,minima,last.") var keep: String?
    @Flag(help: "No progress bars.") var quiet = false

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1, got \(runs)") }
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1, got \(jobs)") }
        if let clrMax, !(clrMax.isFinite && clrMax > 0) {
            throw ValidationError("--clr-max must be positive, got \(clrMax)")
        }
        if let clrStep, clrStep < 1 { throw ValidationError("--clr-step must be at least 1 epoch, got \(clrStep)") }
    }

    mutating func run() throws {
        let model = try modelData.resolveModel()
        let entries = optimizers.split(separator: ",").map {
            String($0).trimmingCharacters(in: .whitespaces).lowercased()
        }
        for e in entries {
            let base = e.hasSuffix("-clr") ? String(e.dropLast(4)) : e
            _ = try OptimizerKind(parsing: base)
        }
        var base = RunConfiguration(
            modelId: model.id, architecture: model.architecture, weights: modelData.weights,
            data: try modelData.dataSpecification(imageSize: model.imageSize, card: model.card),
            optimizer: try OptimizerConfig(parsing: "sgd"),
            schedule: .constant(ConstantLR(lr: 0.01)),
            trainable: try modelData.trainableBlocks(architecture: model.architecture),
            epochs: epochs, batchSize: modelData.batch, seed: modelData.seed)
        base.batchNormPolicy = try modelData.batchNorm()
        base.save.keep = keep
        let plan = ComparisonPlan(
            optimizers: entries, runs: runs, base: base, clrMax: clrMax,
            clrStepEpochs: clrStep ?? max(1, epochs / 8),
            name: name
                ?? "\(model.id) on \(URL(fileURLWithPath: base.data.source).lastPathComponent): \(entries.joined(separator: ","))"
        )
        var planWithRates = plan
        for item in lrFor {
            let kv = item.split(separator: "=")
            guard kv.count == 2, let v = Double(kv[1]) else {
                throw ValidationError("--lr-for takes entry=rate, got '\(item)'")
            }
            planWithRates.learningRates[String(kv[0]).lowercased()] = v
        }
        let runner = ComparisonRunner(plan: planWithRates, catalog: try catalog.open())
        runner.showProgress = !quiet
        runner.jobs = jobs
        runner.launcher = TrainCommandLauncher(
            executable: URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL)
        let outcome = try runner.run()
        for entry in planWithRates.optimizers {
            print("runs \(entry): \((outcome.runIds[entry] ?? []).map(String.init).joined(separator: " "))")
        }
        print("comparison \(outcome.comparisonId) done: graft report --compare \(outcome.comparisonId)")
    }
}

/// Runs a comparison's runs as `graft train --config FILE --comparison ID` processes.
struct TrainCommandLauncher: RunLauncher {
    let executable: URL

    func launch(configurationFile: URL, comparisonId: Int64, catalog: Catalog, threads: Int) throws -> Process {
        let p = Process()
        p.executableURL = executable
        p.arguments = [
            "train", "--config", configurationFile.path, "--comparison", String(comparisonId), "--quiet",
            "--catalog", catalog.openedLocation,
        ]
        if catalog.backend == .postgresql { p.arguments! += ["--checkpoint-root", catalog.baseDirectory.path] }
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_NUM_THREADS"] = String(threads)
        environment["GRAFT_THREADS"] = String(threads)
        p.environment = environment
        try p.run()
        return p
    }
}
