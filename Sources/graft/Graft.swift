import ArgumentParser

@main
struct Graft: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graft",
        abstract: "Checkpoint-centric transfer learning on images.",
        subcommands: [
            // The zoo and weights
            ModelsCommand.self, ConvertCommand.self, WeightsCommand.self, PredictCommand.self,
            // Data and training
            DataCommand.self, LRFindCommand.self, TrainCommand.self, CompareCommand.self, EnsembleCommand.self,
            ReportCommand.self,
            // The catalog
            RunsCommand.self, CkptCommand.self, CatalogCommand.self,
        ]
    )
}
