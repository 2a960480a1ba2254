import ArgumentParser

@main
struct Graft: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graft",
        abstract: "Checkpoint-centric transfer learning on images.",
        subcommands: [
            ModelsCommand.self, ConvertCommand.self, WeightsCommand.self,
            DataCommand.self,
            RunsCommand.self, CkptCommand.self, CatalogCommand.self,
        ]
    )
}
