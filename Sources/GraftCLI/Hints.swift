import ArgumentParser
import Foundation
import GraftCatalog
import GraftEnsemble
import GraftTraining
import GraftZoo

/// What the command line adds to the library's errors and findings: the flag or command that
/// deals with them. The library speaks of runs, checkpoints and files, never of flags; this is
/// the one place that turns its typed errors into advice about this tool's options.
enum CommandLineHint {
    static func hint(for error: any Error) -> String? {
        switch error {
        case EnsembleError.noMemberSource:
            "give --run R, or --checkpoints ID,…"
        case EnsembleError.runHasNoMembers(let run?, _):
            "see `graft ckpt list --run \(run)`"
        case EnsembleError.needsData:
            "give --data DIR (an ImageFolder, or fashion-mnist) to evaluate it"
        case ZooError.alreadyPublished:
            "use --replace to overwrite it"
        case TrainingError.noCheckpoint(let run, _):
            "see `graft ckpt list --run \(run)`"
        default:
            nil
        }
    }

    /// The error with its hint, or the error itself when there is none.
    static func explained(_ error: any Error) -> any Error {
        guard let hint = hint(for: error) else { return error }
        return HintedError(message: error.localizedDescription, hint: hint)
    }

    /// A catalog finding with the command that deals with it.
    static func explained(_ finding: CheckFinding) -> CheckFinding {
        var finding = finding
        if finding.kind == .interruptedRun, let run = finding.runId {
            finding.detail += " (`graft train --resume \(run)`)"
        }
        return finding
    }
}

struct HintedError: LocalizedError, CustomStringConvertible {
    var message: String
    var hint: String
    var errorDescription: String? { "\(message) (\(hint))" }
    var description: String { errorDescription! }
}
