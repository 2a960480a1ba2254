import ArgumentParser
import Foundation
import GraftOptim

/// Named training recipes: `graft train --recipe NAME` sets typed defaults for the options it
/// names, and any of those options given on the command line wins.
struct TrainingRecipe {
    enum Name: String, CaseIterable, ExpressibleByArgument {
        case snapshotEnsemble = "snapshot-ensemble"
    }

    var name: Name
    var summary: String
    var optimizer: OptimizerKind? = nil
    var momentum: Double? = nil
    var weightDecay: Double? = nil
    var schedule: ScheduleKind? = nil
    var lr: LearningRate? = nil
    var stepSize: StepCount? = nil
    var epochs: Int? = nil
    /// What to run once the run is trained; `RUN` stands for its id.
    var nextStep: String? = nil

    static let all: [TrainingRecipe] = [
        TrainingRecipe(
            name: .snapshotEnsemble,
            summary:
                "SGD (momentum 0.9, weight decay 5e-4) with cosine annealing restarted at lr 0.1 every 4 epochs for 20 epochs: a checkpoint at the end of each of the 5 cycles, for `graft ensemble --run R --minima --method probs,swa` (Huang et al. 2017). Measured on Fashion-MNIST in benchmarks/README.md.",
            optimizer: .sgd, momentum: 0.9, weightDecay: 5e-4, schedule: .cosineRestarts, lr: .rate(0.1),
            stepSize: .epochs(4),
            epochs: 20,
            nextStep: "snapshot ensemble: graft ensemble --run RUN --minima --method probs,swa")
    ]

    static func named(_ name: Name) -> TrainingRecipe { all.first { $0.name == name }! }

    static var helpText: String {
        all.map { "\($0.name.rawValue): \($0.summary)" }.joined(separator: "\n")
    }

    /// `--recipe NAME`, refused naming the known recipes.
    static func parse(_ text: String) throws -> Name {
        guard let name = Name(rawValue: text) else {
            throw ValidationError(
                "unknown recipe '\(text)' (known: \(Name.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return name
    }
}
