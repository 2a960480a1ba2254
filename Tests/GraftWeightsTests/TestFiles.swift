import Foundation
import Testing
import TestSupport
import GraftWeights

/// Files and external tools for the weights tests.
enum TestFiles {
    /// Writes `data` as `name` in `dir`.
    static func write(_ data: Data, _ name: String, in dir: URL) throws -> URL {
        let url = dir.appendingPathComponent(name)
        try data.write(to: url)
        return url
    }

    /// `load` must fail with a `WeightsError` whose message names the file and contains `fragment`.
    static func expectWeightsError(
        _ url: URL, _ fragment: String, _ load: (URL) throws -> Any,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        do {
            _ = try load(url)
            Issue.record("\(url.lastPathComponent) loaded", sourceLocation: sourceLocation)
        } catch let error as WeightsError {
            let message = error.localizedDescription
            #expect(
                message.contains(url.path) && message.contains(fragment), "\(message)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error type \(error)", sourceLocation: sourceLocation)
        }
    }

    /// Runs a program found on PATH; returns (exit status, stdout, stderr).
    @discardableResult
    static func run(_ arguments: [String], input: String? = nil) throws -> (status: Int32, out: String, err: String) {
        let outcome = try ChildProcess.run(command: arguments, input: input.map { Data($0.utf8) })
        return (outcome.status, outcome.stdout, outcome.stderr)
    }

    /// nil when the command exits with status 0, otherwise why not (its last line of stderr).
    static func problemRunning(_ arguments: [String]) -> String? {
        do {
            let result = try run(arguments)
            if result.status == 0 { return nil }
            let last = result.err.split(separator: "\n").last.map(String.init) ?? ""
            return "`\(arguments.joined(separator: " "))` exited with status \(result.status)"
                + (last.isEmpty ? "" : ": \(last)")
        } catch {
            return "cannot run \(arguments[0]): \(error)"
        }
    }

    /// Debian's interpreter, where `scripts/install-deps.sh` installs python3-h5py and
    /// python3-numpy. Not the `python3` first on PATH, which may be another one (pyenv, a venv).
    static let python = "/usr/bin/python3"

    static let fixtures = Fixtures.prerequisite
    static let h5dump = Prerequisite(
        "h5dump", problem: problemRunning(["h5dump", "--version"]).map { "\($0) (Debian package hdf5-tools)" })
    static let sha256sum = Prerequisite("sha256sum", problem: problemRunning(["sha256sum", "--version"]))
    static let h5py = Prerequisite(
        "h5py",
        problem: problemRunning([python, "-c", "import h5py, numpy"]).map {
            "\($0) (Debian packages python3-h5py and python3-numpy: run scripts/install-deps.sh)"
        })
    static let fixturesAndH5py = fixtures.and(h5py)
    static let fixturesAndH5dump = fixtures.and(h5dump)
    static let fixturesAndSha256sum = fixtures.and(sha256sum)
}
