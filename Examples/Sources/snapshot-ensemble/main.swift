// A snapshot ensemble: a run's checkpoints at the minima of its cyclical schedule, their
// averaged probabilities and their averaged weights (SWA), against the best single member.
//
//   snapshot-ensemble CATALOG RUN
import Foundation
import Graft

guard CommandLine.arguments.count == 3, let run = Int64(CommandLine.arguments[2]) else {
    print("usage: snapshot-ensemble CATALOG RUN")
    exit(2)
}
do {
    let catalog = try Catalog.open(at: CommandLine.arguments[1])
    let result = try EnsembleJob.snapshots(of: run, methods: [.probs, .swa]).execute(catalog: catalog)
    for member in result.evaluation.members {
        print("member \(member.member.name): accuracy \(String(format: "%.3f", member.accuracy))")
    }
    for outcome in result.evaluation.outcomes {
        print(
            "\(outcome.label): accuracy \(String(format: "%.3f", outcome.accuracy)), gain \(String(format: "%+.3f", outcome.gain))"
        )
    }
    print(result.advice.summary)
} catch {
    print("error: \(error.localizedDescription)")
    exit(1)
}
