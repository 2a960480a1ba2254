import ArgumentParser

@main
struct Graft: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graft",
        abstract: "Checkpoint-centric transfer learning on images.",
        subcommands: [
            ModelsCommand.self, ConvertCommand.self, WeightsCommand.self,
            DataCommand.self, TrainCommand.self, LRFindCommand.self, PredictCommand.self, CompareCommand.self, ReportCommand.self,
            RunsCommand.self, CkptCommand.self, CatalogCommand.self,
        ]
    )
}
