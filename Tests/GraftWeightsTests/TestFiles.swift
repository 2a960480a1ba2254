import Foundation

/// Temporary directories and external tools for the weights tests.
enum TestFiles {
    /// A fresh empty directory, removed by `cleanup`.
    static func directory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("graft-weights-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func cleanup(_ url: URL) { try? FileManager.default.removeItem(at: url) }

    /// Runs a program found on PATH; returns (exit status, stdout, stderr).
    @discardableResult
    static func run(_ arguments: [String], input: String? = nil) throws -> (status: Int32, out: String, err: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let out = Pipe(), err = Pipe(), inPipe = Pipe()
        process.standardOutput = out
        process.standardError = err
        if input != nil { process.standardInput = inPipe }
        try process.run()
        if let input {
            inPipe.fileHandleForWriting.write(Data(input.utf8))
            try inPipe.fileHandleForWriting.close()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    static func toolWorks(_ arguments: [String]) -> Bool {
        (try? run(arguments).status) == 0
    }

    static let hasH5dump = toolWorks(["h5dump", "--version"])
    static let hasH5py = toolWorks(["python3", "-c", "import h5py, numpy"])
    static let hasSha256sum = toolWorks(["sha256sum", "--version"])
}
