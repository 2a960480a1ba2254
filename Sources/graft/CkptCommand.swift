import ArgumentParser

struct CkptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ckpt")
}
