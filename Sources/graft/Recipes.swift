import ArgumentParser
import Foundation

/// Named training recipes: `graft train --recipe NAME` stands for a set of options, written
/// before the user's own, so that any option given on the command line wins (the argument
/// parser keeps the last value of a repeated option).
struct TrainingRecipe {
    var name: String
    var summary: String
    var arguments: [String]
    /// What to run once the run is trained; `RUN` stands for its id.
    var nextStep: String?

    static let all: [TrainingRecipe] = [
        TrainingRecipe(
            name: "snapshot-ensemble",
            summary:
                "SGD (momentum 0.9, weight decay 5e-4) with cosine annealing restarted at lr 0.1 every 4 epochs for 20 epochs: a checkpoint at the end of each of the 5 cycles, for `graft ensemble --run R --minima --method probs,swa` (Huang et al. 2017). Measured on Fashion-MNIST in benchmarks/README.md.",
            arguments: [
                "--optimizer", "sgd", "--momentum", "0.9", "--weight-decay", "5e-4", "--schedule", "cosine_restarts",
                "--lr", "0.1", "--step-size", "4ep", "--epochs", "20",
            ],
            nextStep: "snapshot ensemble: graft ensemble --run RUN --minima --method probs,swa")
    ]

    static func named(_ name: String) -> TrainingRecipe? { all.first { $0.name == name } }

    static var helpText: String {
        all.map { "\($0.name): \($0.summary)" }.joined(separator: "\n")
    }

    /// `train … --recipe NAME …` with the recipe's options inserted right after `train`; other
    /// command lines unchanged. An unknown name is left for `TrainCommand` to reject.
    static func expand(_ arguments: [String]) -> [String] {
        guard arguments.first == "train" else { return arguments }
        var name: String?
        for (i, word) in arguments.enumerated() {
            if word == "--recipe", i + 1 < arguments.count { name = arguments[i + 1] }
            if word.hasPrefix("--recipe=") { name = String(word.dropFirst("--recipe=".count)) }
        }
        guard let name, let recipe = named(name) else { return arguments }
        return ["train"] + recipe.arguments + arguments.dropFirst()
    }
}
