import ArgumentParser
import Foundation
import GraftCatalog
import GraftOptim
import GraftTraining

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train or fine-tune a zoo model; every epoch and checkpoint goes to the catalog.",
        discussion: """
            Example: graft train --model resnet34 --weights Weights/resnet34.h5 --data flowers \\
              --trainable layer4,head --optimizer sgd --momentum 0.9 --schedule triangular \\
              --lr 5e-4:3e-3 --step-size 4ep --epochs 100 --batch 32 --seed 0
            """)

    @Option(
        help: ArgumentHelp(
            "A named set of options; options given as well override it.",
            discussion: TrainingRecipe.helpText, valueName: "name"),
        transform: TrainingRecipe.parse)
    var recipe: TrainingRecipe.Name?
    @OptionGroup var modelData: ModelDataOptions
    @Option(help: ArgumentHelp("Train a saved run configuration (JSON) instead of the options.", visibility: .hidden))
    var config: String?
    @Option(help: ArgumentHelp("Comparison the run belongs to.", visibility: .hidden)) var comparison: Int64?
    @Option(help: ArgumentHelp("The cell of --comparison's grid the run trains.", visibility: .hidden))
    var comparisonCell: Int?
    @OptionGroup var optimizer: OptimizerOptions
    @OptionGroup var schedule: ScheduleOptions
    @OptionGroup var catalog: CatalogOptions
    @Option(help: "Epochs to train (default: 10, or the recipe's).") var epochs: Int?
    @Option(help: "Unfreeze one more block every K epochs.") var gradualUnfreeze: Int?
    @Option(help: "Learning-rate factors per block, e.g. layer3=0.1,layer4=0.3.") var lrFactors: String?
    @OptionGroup var runOptions: RunOptions

    mutating func run() throws {
        let db = try catalog.open()
        if let resume = runOptions.resume {
            print(runSummaryText(try runOptions.resumeRun(resume, catalog: db)))
            return
        }
        if let config {
            let data = try Data(contentsOf: URL(fileURLWithPath: config))
            let configuration = try JSONDecoder().decode(RunConfiguration.self, from: data)
            let run = TrainingRun(configuration: configuration, catalog: db)
            run.showProgress = !runOptions.quiet
            print(runSummaryText(try run.start(comparisonId: comparison, comparisonCell: comparisonCell)))
            return
        }
        let recipe = self.recipe.map(TrainingRecipe.named)
        let epochs = self.epochs ?? recipe?.epochs ?? 10
        var tuning = try modelData.fineTuning()
        tuning.optimizer = try optimizer.config(recipe: recipe)
        tuning.schedule = try schedule.config(recipe: recipe)
        var config = tuning.configuration
        config.epochs = epochs
        config.gradualUnfreezeEvery = gradualUnfreeze
        config.blockLearningRateFactors = try parseFactors(lrFactors)
        try runOptions.apply(to: &config)
        if schedule.lr == .auto {
            let auto = try AutoLearningRate.choose(
                for: config, catalog: db, plotPath: "out/lr-find.svg", showProgress: !runOptions.quiet)
            config.schedule.lr = auto.learningRate
            config.learningRateSource = auto.source
            print("lr auto: \(auto.description)")
        }
        let prepared = try TrainingRun.prepare(config, splitDirectory: db.splitsDirectory)
        printRunStart(prepared, weights: modelData.weights)
        let run = TrainingRun(configuration: config, catalog: db)
        run.showProgress = !runOptions.quiet
        let summary = try run.start(prepared: prepared, comparisonId: comparison, comparisonCell: comparisonCell)
        print(runSummaryText(summary))
        if let next = recipe?.nextStep {
            print(next.replacingOccurrences(of: "RUN", with: String(summary.runId)))
        }
    }

    func parseFactors(_ text: String?) throws -> [String: Double] {
        guard let text else { return [:] }
        var result: [String: Double] = [:]
        for item in text.split(separator: ",") {
            let kv = item.split(separator: "=")
            guard kv.count == 2, let v = Double(kv[1]) else {
                throw ValidationError("--lr-factors takes block=factor pairs, got '\(item)'")
            }
            result[String(kv[0])] = v
        }
        return result
    }
}
