import Foundation
import GraftSupport

/// Every failure of an export, each naming the file or value at fault. Errors of the weights file
/// being read stay `WeightsError`s, of the zoo's cards `ZooError`s.
public enum ExportError: LocalizedError, Equatable, Sendable {
    /// The output file exists and overwriting was not asked for.
    case outputExists(path: String)
    /// The weights file names an architecture the exporter cannot build.
    case unknownArchitecture(name: String, path: String, known: [String])
    /// The weights do not fit their architecture (missing, unexpected or mis-shaped keys).
    case modelMismatch(path: String, architecture: String, problems: [String])
    /// The model holds a layer the ONNX exporter has no operator for, or one whose output size
    /// it cannot know (an adaptive pooling that needs a fixed input size).
    case unsupportedLayer(architecture: String, layer: String, reason: String)
    /// The exported file could not be written.
    case write(path: String, cause: ErrorCause)

    public var errorDescription: String? {
        switch self {
        case .outputExists(let path):
            return "\(path) already exists (overwrite it with --force)"
        case .unknownArchitecture(let name, let path, let known):
            return "\(path): cannot export architecture '\(name)'; the exporter knows \(known.joined(separator: ", "))"
        case .modelMismatch(let path, let architecture, let problems):
            let shown = problems.prefix(8).joined(separator: "; ")
            let more = problems.count > 8 ? "; and \(problems.count - 8) more" : ""
            return "\(path): does not fit \(architecture): \(shown)\(more)"
        case .unsupportedLayer(let architecture, let layer, let reason):
            return "cannot export \(architecture) to ONNX: layer '\(layer)': \(reason)"
        case .write(let path, let cause):
            return "\(path): cannot write: \(cause)"
        }
    }
}
