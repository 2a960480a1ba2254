import ArgumentParser

struct WeightsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "weights")
}
