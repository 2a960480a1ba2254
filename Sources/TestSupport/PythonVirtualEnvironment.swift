import Foundation

/// A Python virtual environment with packages from PyPI, for interoperability checks against
/// tools that Debian does not package (ONNX Runtime, `safetensors`). It is made once per machine
/// and set of packages, under the temporary folder, and reused; it is built under a temporary
/// name and renamed when complete, so processes running at once never see half of one.
public struct PythonVirtualEnvironment: Sendable {
    /// The environment's interpreter.
    public let python: URL

    /// Makes (or finds) the environment holding `packages`; `name` names its folder.
    /// - Returns: the environment, or why it could not be made (no `python3 -m venv`, or pip
    ///   cannot reach PyPI).
    public static func prepare(name: String, packages: [String]) -> Result<PythonVirtualEnvironment, Problem> {
        let fm = FileManager.default
        let final = fm.temporaryDirectory.appendingPathComponent("graft-venv-\(name)")
        let python = final.appendingPathComponent("bin/python")
        let ready = final.appendingPathComponent(".graft-ready")
        if fm.fileExists(atPath: ready.path) { return .success(PythonVirtualEnvironment(python: python)) }
        let building = fm.temporaryDirectory.appendingPathComponent(
            ".graft-venv-\(name)-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: building) }
        do {
            let venv = try ChildProcess.run(command: ["python3", "-m", "venv", building.path])
            guard venv.status == 0 else { return .failure(Problem("python3 -m venv failed: \(venv.stderr)")) }
            let pip = try ChildProcess.run(
                building.appendingPathComponent("bin/python"),
                [
                    "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    // Without a network, fail in seconds rather than retry for minutes.
                    "--retries", "1", "--timeout", "15",
                ] + packages)
            guard pip.status == 0 else {
                let tail = pip.stderr.split(separator: "\n").suffix(3).joined(separator: " | ")
                return .failure(
                    Problem(
                        "pip install \(packages.joined(separator: " ")) failed (no network to PyPI?): \(tail)"))
            }
            try Data().write(to: building.appendingPathComponent(".graft-ready"))
        } catch {
            return .failure(Problem("cannot run python3: \(error)"))
        }
        // Another process may have finished first: then its environment is used.
        if rename(building.path, final.path) != 0, !fm.fileExists(atPath: ready.path) {
            return .failure(Problem("cannot rename \(building.path) to \(final.path): errno \(errno)"))
        }
        return .success(PythonVirtualEnvironment(python: python))
    }

    /// Why an environment is missing.
    public struct Problem: Error, Sendable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Runs `script` with `arguments` (`sys.argv[1...]`).
    public func run(_ script: String, _ arguments: [String]) throws -> ProcessOutcome {
        try ChildProcess.run(python, ["-c", script] + arguments)
    }
}

extension Prerequisite {
    /// A prerequisite for a `PythonVirtualEnvironment.prepare` result.
    public init(_ name: String, _ environment: Result<PythonVirtualEnvironment, PythonVirtualEnvironment.Problem>) {
        switch environment {
        case .success: self.init(name, problem: nil)
        case .failure(let problem): self.init(name, problem: problem.description)
        }
    }
}
