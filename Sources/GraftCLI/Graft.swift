import ArgumentParser
import GraftEnsemble
import GraftTensor

@main
struct Graft: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graft",
        abstract: "Checkpoint-centric transfer learning on images.",
        subcommands: [
            // The zoo and weights
            ModelsCommand.self, ConvertCommand.self, WeightsCommand.self, PredictCommand.self,
            ExportCommand.self,
            // Data and training
            DataCommand.self, LRFindCommand.self, TrainCommand.self, FinetuneCommand.self, CompareCommand.self,
            EnsembleCommand.self,
            EvaluateCommand.self, ReportCommand.self,
            // The catalog
            RunsCommand.self, CkptCommand.self, EvaluationsCommand.self, CatalogCommand.self,
        ]
    )

    static func main() {
        // Idle OpenMP threads must sleep, not spin: on two shared cores the data-loading threads
        // and the engine's team would otherwise stall each other at every layer.
        Threading.preferPassiveOpenMPWaiting()
        do {
            var command = try parseAsRoot(
                AugmentationOptions.completingBareAugment(Array(CommandLine.arguments.dropFirst())))
            try command.run()
        } catch {
            exit(withError: CommandLineHint.explained(error))
        }
    }
}
