import Foundation

/// Everything in GraftOptim that a user (a CLI flag, a checkpoint file) can get wrong.
public enum GraftOptimError: LocalizedError, Equatable {
    /// An optimizer name the parser does not know.
    case unknownOptimizer(String)
    /// A schedule name the parser does not know.
    case unknownSchedule(String)
    /// A hyper-parameter this optimizer or schedule does not have.
    case unknownHyperParameter(name: String, owner: String)
    /// A value that does not parse or is out of range; `reason` says what was expected.
    case invalidValue(name: String, value: String, reason: String)
    /// A required schedule or range-test setting was not given.
    case missingValue(name: String, owner: String)
    /// A checkpoint state key that is not `<parameter>/<buffer>`.
    case malformedStateKey(String)
    /// A state buffer this optimizer never keeps (the checkpoint came from another optimizer).
    case unexpectedStateBuffer(key: String, optimizer: String)
    /// A parameter's state has buffers but no step count.
    case missingStep(parameter: String)
    /// A state tensor whose shape differs from the parameter's.
    case stateShapeMismatch(key: String, expected: [Int], found: [Int])
    /// A state entry of the wrong element type (float buffers, int64 steps).
    case stateTypeMismatch(key: String, expected: String)

    public var errorDescription: String? {
        switch self {
        case .unknownOptimizer(let name):
            "unknown optimizer '\(name)' (expected one of: \(OptimizerKind.allCases.map(\.rawValue).joined(separator: ", ")))"
        case .unknownSchedule(let name):
            "unknown schedule '\(name)' (expected one of: \(ScheduleKind.allCases.map(\.rawValue).joined(separator: ", ")))"
        case .unknownHyperParameter(let name, let owner):
            "'\(name)' is not a hyper-parameter of \(owner)"
        case .invalidValue(let name, let value, let reason):
            "invalid value '\(value)' for \(name): \(reason)"
        case .missingValue(let name, let owner):
            "\(owner) needs a value for \(name)"
        case .malformedStateKey(let key):
            "optimizer state key '\(key)' is not of the form <parameter>/<buffer>"
        case .unexpectedStateBuffer(let key, let optimizer):
            "optimizer state entry '\(key)' does not belong to \(optimizer)"
        case .missingStep(let parameter):
            "optimizer state of '\(parameter)' has no '\(parameter)/step' entry"
        case .stateShapeMismatch(let key, let expected, let found):
            "optimizer state entry '\(key)' has shape \(found), the parameter has \(expected)"
        case .stateTypeMismatch(let key, let expected):
            "optimizer state entry '\(key)' should be \(expected)"
        }
    }
}
