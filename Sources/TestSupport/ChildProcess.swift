import Foundation

/// What a finished child process left: its exit status and everything it wrote.
public struct ProcessOutcome: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// A child process whose standard output and error are read while it runs, each on a thread of
/// its own: a child that fills one pipe while the test waits on the other would never finish.
public final class ChildProcess: @unchecked Sendable {
    public let process: Process
    private let group = DispatchGroup()
    private var stdoutData = Data(), stderrData = Data()

    /// Starts `executable`; `environment` replaces the test's own when given. Standard input is
    /// `input`, written from a thread of its own and then closed, or nothing when nil.
    public init(
        _ executable: URL, _ arguments: [String], environment: [String: String]? = nil,
        directory: URL? = nil, input: Data? = nil
    ) throws {
        process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = directory }
        let out = Pipe(), err = Pipe(), inPipe = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input == nil ? FileHandle.nullDevice : inPipe
        try process.run()
        drain(out) { self.stdoutData = $0 }
        drain(err) { self.stderrData = $0 }
        if let input {
            DispatchQueue.global().async {
                try? inPipe.fileHandleForWriting.write(contentsOf: input)
                try? inPipe.fileHandleForWriting.close()
            }
        }
    }

    private func drain(_ pipe: Pipe, into store: @escaping @Sendable (Data) -> Void) {
        group.enter()
        Thread.detachNewThread {
            store(pipe.fileHandleForReading.readDataToEndOfFile())
            self.group.leave()
        }
    }

    /// Waits for the child to exit and for both pipes to close.
    public func finish() -> ProcessOutcome {
        process.waitUntilExit()
        group.wait()
        return ProcessOutcome(
            status: process.terminationStatus, stdout: String(decoding: stdoutData, as: UTF8.self),
            stderr: String(decoding: stderrData, as: UTF8.self))
    }

    /// Runs `executable` to its end.
    public static func run(
        _ executable: URL, _ arguments: [String], environment: [String: String]? = nil,
        directory: URL? = nil, input: Data? = nil
    ) throws -> ProcessOutcome {
        try ChildProcess(executable, arguments, environment: environment, directory: directory, input: input).finish()
    }

    /// Runs a program found on PATH to its end.
    public static func run(
        command arguments: [String], environment: [String: String]? = nil, input: Data? = nil
    ) throws -> ProcessOutcome {
        try run(URL(fileURLWithPath: "/usr/bin/env"), arguments, environment: environment, input: input)
    }
}
