import Foundation
import GraftSupport

/// Every failure of the zoo: its cards, and weights that do not fit a card's model. Each case
/// names the file (and field) at fault. Errors of the weights files themselves stay
/// `WeightsError`s.
public enum ZooError: LocalizedError, Equatable, Sendable {
    /// A model card is missing a field or holds an invalid value.
    case invalidCard(path: String, field: String, reason: String)
    /// A model is already published under `id` (its card at `path`).
    case alreadyPublished(id: String, path: String)
    /// No model card has this id.
    case unknownModel(id: String, known: [String])
    /// The weights do not fit the model (keys or shapes differ).
    case modelMismatch(path: String, model: String, problems: [String])
    /// A card, class-names file or the zoo's folder cannot be read.
    case unreadable(path: String, reason: String, cause: ErrorCause? = nil)

    public var errorDescription: String? {
        switch self {
        case .invalidCard(let path, let field, let reason):
            return "\(path): model card field '\(field)': \(reason)"
        case .alreadyPublished(let id, let path):
            return "\(path): '\(id)' is already published"
        case .unknownModel(let id, let known):
            return "unknown model '\(id)' (known: \(known.joined(separator: ", ")))"
        case .modelMismatch(let path, let model, let problems):
            let shown = problems.prefix(8).joined(separator: "; ")
            let more = problems.count > 8 ? "; and \(problems.count - 8) more" : ""
            return "\(path): does not fit model '\(model)': \(shown)\(more)"
        case .unreadable(let path, let reason, let cause):
            return "\(path): \(reason)" + (cause.map { ": \($0)" } ?? "")
        }
    }

    /// A card or class-names file's bytes.
    static func readFile(_ url: URL) throws -> Data {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ZooError.unreadable(path: url.path, reason: "no such file")
        }
        do {
            return try Data(contentsOf: url)
        } catch {
            throw ZooError.unreadable(path: url.path, reason: "cannot read", cause: ErrorCause(error))
        }
    }
}
