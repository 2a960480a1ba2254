import Foundation
import GraftTensor

/// One key whose stored value does not fit the module: shape or dtype differ.
public struct ShapeMismatch: Sendable, Equatable, CustomStringConvertible {
    public let key: String
    public let expectedShape: [Int]
    public let foundShape: [Int]
    public let expectedDType: String
    public let foundDType: String

    public var description: String {
        "\(key): model has \(expectedDType) \(expectedShape), weights have \(foundDType) \(foundShape)"
    }
}

/// What `Module.load(_:strict:skipping:)` did: keys loaded, and every key it did not load, by
/// reason.
public struct LoadReport: Sendable, Equatable, CustomStringConvertible {
    /// Keys assigned from the state dict, in the module's order.
    public var loaded: [String] = []
    /// Keys excluded by the `skipping` argument (present in the module, the weights or both).
    public var skipped: [String] = []
    /// Module keys absent from the state dict (they keep their current values).
    public var missing: [String] = []
    /// State-dict keys the module does not have.
    public var unexpected: [String] = []
    /// Keys present on both sides with a different shape or dtype (not loaded).
    public var mismatched: [ShapeMismatch] = []

    public init() {}

    /// True when every module key was loaded from a matching entry and nothing was left over.
    public var isComplete: Bool { missing.isEmpty && unexpected.isEmpty && mismatched.isEmpty && skipped.isEmpty }

    /// Every problem, one line per key.
    public var problems: [String] {
        missing.map { "missing key \($0)" } + unexpected.map { "unexpected key \($0)" }
            + mismatched.map { "shape mismatch \($0)" }
    }

    public var description: String {
        var lines = ["loaded \(loaded.count) tensors"]
        if !skipped.isEmpty { lines.append("skipped \(skipped.count): \(skipped.joined(separator: ", "))") }
        if !missing.isEmpty { lines.append("missing \(missing.count): \(missing.joined(separator: ", "))") }
        if !unexpected.isEmpty { lines.append("unexpected \(unexpected.count): \(unexpected.joined(separator: ", "))") }
        if !mismatched.isEmpty {
            lines.append("mismatched \(mismatched.count): \(mismatched.map(\.description).joined(separator: "; "))")
        }
        return lines.joined(separator: "\n")
    }
}

/// Strict loading failed: all missing keys, unexpected keys and shape mismatches together.
public enum WeightLoadingError: LocalizedError, Sendable, Equatable, CustomStringConvertible {
    case incompatible(missing: [String], unexpected: [String], mismatched: [ShapeMismatch])

    public var description: String {
        switch self {
        case .incompatible(let missing, let unexpected, let mismatched):
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing keys: \(missing.joined(separator: ", "))") }
            if !unexpected.isEmpty { parts.append("unexpected keys: \(unexpected.joined(separator: ", "))") }
            if !mismatched.isEmpty {
                parts.append("shape mismatches: \(mismatched.map(\.description).joined(separator: "; "))")
            }
            return "weights do not fit the model: " + parts.joined(separator: "; ")
        }
    }

    public var errorDescription: String? { description }
}

extension Module {
    /// Assigns parameters and buffers from a state dict, matching keys as PyTorch's
    /// `load_state_dict` does.
    ///
    /// Strict loading (the default) checks everything first and throws one error listing all
    /// missing keys, unexpected keys and shape/dtype mismatches; nothing is assigned then.
    /// Partial loading (`strict: false`) assigns whatever matches and reports the rest, e.g. the
    /// `fc.*` head when ImageNet weights go into a model with a new 5-class head.
    /// - Parameters:
    ///   - state: the weights and buffers, by PyTorch key.
    ///   - strict: refuse any missing, unexpected or mismatched key (nothing is assigned then).
    ///   - skipping: keys, or module prefixes such as `"fc"`, to leave untouched on both sides.
    ///     Skipped keys are not counted as missing or unexpected, even in strict mode.
    /// - Throws: `WeightLoadingError.incompatible` in strict mode when anything does not match.
    @discardableResult
    public func load(_ state: StateDict, strict: Bool = true, skipping: Set<String> = []) throws -> LoadReport {
        func isSkipped(_ key: String) -> Bool {
            if skipping.contains(key) { return true }
            for prefix in skipping where key.hasPrefix(prefix.hasSuffix(".") ? prefix : prefix + ".") { return true }
            return false
        }
        enum Slot { case parameter(Parameter), buffer(Buffer) }
        var slots: [(String, Slot)] = namedParameters().map { ($0.name, .parameter($0.parameter)) }
        slots += namedBuffers().map { ($0.name, .buffer($0.buffer)) }
        // state_dict order: parameters then buffers per module; report in the module's own order.
        let order = Dictionary(uniqueKeysWithValues: stateDict().keys.enumerated().map { ($1, $0) })
        slots.sort { (order[$0.0] ?? 0) < (order[$1.0] ?? 0) }

        var report = LoadReport()
        var assignments: [(Slot, StateValue)] = []
        var moduleKeys = Set<String>()
        for (key, slot) in slots {
            moduleKeys.insert(key)
            if isSkipped(key) { report.skipped.append(key); continue }
            guard let value = state[key] else { report.missing.append(key); continue }
            let current: StateValue
            switch slot {
            case .parameter(let p): current = .float(p.value)
            case .buffer(let b): current = b.value
            }
            if current.shape != value.shape || current.dtypeName != value.dtypeName {
                report.mismatched.append(
                    ShapeMismatch(
                        key: key, expectedShape: current.shape, foundShape: value.shape,
                        expectedDType: current.dtypeName, foundDType: value.dtypeName))
                continue
            }
            assignments.append((slot, value))
            report.loaded.append(key)
        }
        for key in state.keys where !moduleKeys.contains(key) {
            if isSkipped(key) { report.skipped.append(key) } else { report.unexpected.append(key) }
        }
        if strict, !(report.missing.isEmpty && report.unexpected.isEmpty && report.mismatched.isEmpty) {
            throw WeightLoadingError.incompatible(
                missing: report.missing, unexpected: report.unexpected, mismatched: report.mismatched)
        }
        for (slot, value) in assignments {
            switch slot {
            case .parameter(let p):
                if case .float(let t) = value { p.value = t }
            case .buffer(let b):
                b.value = value
            }
        }
        return report
    }
}
