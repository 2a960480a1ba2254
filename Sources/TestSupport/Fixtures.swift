import Foundation
import GraftTensor

/// Locates `../shared/fixtures` (from the package root) for tests; `GRAFT_FIXTURES` overrides it.
public enum Fixtures {
    public static let root: URL = {
        if let env = ProcessInfo.processInfo.environment["GRAFT_FIXTURES"] {
            return URL(fileURLWithPath: env)
        }
        // This file is Sources/TestSupport/Fixtures.swift: the package root is three levels up.
        let packageRoot = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return packageRoot.deletingLastPathComponent().appendingPathComponent("shared/fixtures")
    }()

    public static var packageRoot: URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    public static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }

    /// A small fixture committed with the package, under `Tests/Fixtures` (each folder names the
    /// script in `scripts/` that wrote it).
    public static func committed(_ relative: String) -> URL {
        packageRoot.appendingPathComponent("Tests/Fixtures").appendingPathComponent(relative)
    }

    public static var available: Bool { FileManager.default.fileExists(atPath: root.path) }

    /// The parameter names listed in a fixture's `state_dict_keys.txt` (`name<TAB>dtype<TAB>[shape]`).
    public static func stateDictKeyNames(_ relative: String) throws -> [String] {
        try String(contentsOf: url(relative), encoding: .utf8).split(separator: "\n")
            .map { String($0.prefix { $0 != "\t" }) }
    }
}

extension Fixtures {
    /// The fixtures as a test prerequisite: a suite gated on it is skipped, saying why, when they
    /// are missing, and fails instead in CI (`CI=true`).
    public static let prerequisite = Prerequisite(
        "the PyTorch fixtures", problem: available ? nil : "no fixtures at \(root.path) (set GRAFT_FIXTURES)")
}
