import Foundation
import Testing

/// Something a test needs from the machine: the fixtures, a tool, a Python package. Where it is
/// missing, the test is skipped and says why — on stderr and in the skip's comment — except in CI
/// (`CI=true`): there the test runs and its `require()` fails, so CI never passes by skipping.
public struct Prerequisite: Sendable {
    public let name: String
    /// nil when present.
    public let problem: String?

    public init(_ name: String, problem: String?) {
        self.name = name
        self.problem = problem
        if let problem, !Self.inCI {
            FileHandle.standardError.write(Data("note: skipping the tests that need \(name): \(problem)\n".utf8))
        }
    }

    public static var inCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// For `.enabled(if:)`: false only when missing outside CI.
    public var runs: Bool { problem == nil || Self.inCI }

    /// The skip's comment.
    public var comment: Comment { Comment(rawValue: "needs \(name): \(problem ?? "present")") }

    /// Fails the test when missing (reached only in CI, or if `runs` was not checked).
    public func require(sourceLocation: SourceLocation = #_sourceLocation) throws {
        try #require(problem == nil, "needs \(name): \(problem ?? "")", sourceLocation: sourceLocation)
    }

    /// Both: the first one missing decides.
    public func and(_ other: Prerequisite) -> Prerequisite {
        Prerequisite(joining: problem == nil ? other : self, name: "\(name) and \(other.name)")
    }

    private init(joining missing: Prerequisite, name: String) {
        self.name = name
        problem = missing.problem  // already reported when that one was made
    }
}
