import Foundation
import GraftTensor

/// What the fuzz targets share: a scratch file for readers that take a path, the check that a
/// failure is a thrown error naming the file, and the replay entry point of a normal build.
public enum FuzzHarness {
    /// A file private to this process (in /dev/shm when there is one, so writing it per input is
    /// cheap), removed at exit.
    public static func scratchFile(named name: String) -> URL {
        var isDirectory: ObjCBool = false
        let shm = FileManager.default.fileExists(atPath: "/dev/shm", isDirectory: &isDirectory) && isDirectory.boolValue
        let directory = shm ? "/dev/shm" : NSTemporaryDirectory()
        let url = URL(fileURLWithPath: directory).appendingPathComponent("graft-fuzz-\(getpid())-\(name)")
        scratchPaths.append(url.path)
        if scratchPaths.count == 1 { atexit { FuzzHarness.scratchPaths.forEach { unlink($0) } } }
        return url
    }

    nonisolated(unsafe) static var scratchPaths: [String] = []

    /// Replaces the file's contents with `bytes`.
    public static func write(_ bytes: UnsafeRawBufferPointer, to url: URL) {
        guard let file = fopen(url.path, "wb") else { fatalError("cannot create \(url.path)") }
        if bytes.count > 0, fwrite(bytes.baseAddress, 1, bytes.count, file) != bytes.count {
            fatalError("cannot write \(url.path)")
        }
        fclose(file)
    }

    /// Writes `input` to `scratch` and runs `read` on it; a thrown error must name the file.
    public static func read(_ input: UnsafeRawBufferPointer, through scratch: URL, _ read: (URL) throws -> Void) {
        write(input, to: scratch)
        expectNamed(path: scratch.path) { try read(scratch) }
    }

    /// Runs `body`; a thrown error must name `path`.
    public static func expectNamed(path: String, _ body: () throws -> Void) {
        do { try body() } catch { expectNamed(error, path: path) }
    }

    /// Reads every element, so a tensor built over memory it does not own shows up under ASan.
    public static func touch(_ state: StateDict) {
        var sum: Float = 0
        for (_, value) in state {
            switch value {
            case .float(let t):
                precondition(t.count == t.shape.reduce(1, *))
                for i in 0..<t.count { sum += t.pointer[i] }
            case .int64(let shape, let values):
                precondition(values.count == shape.reduce(1, *))
            }
        }
        blackHole(sum)
    }

    @inline(never) static func blackHole(_ x: Float) { if x == 0x1p127 { print("") } }

    /// A reader's failure must be a thrown error whose message names the file it read: anything
    /// else (here: a message without the path) is reported to the fuzzer as a crash.
    public static func expectNamed(_ error: any Error, path: String) {
        let message = (error as? LocalizedError)?.errorDescription ?? "\(error)"
        if !message.contains(path) {
            fatalError("error does not name \(path): \(message)")
        }
    }

    /// The entry point of a build without `-DFUZZING`: runs each file given (or every file in a
    /// folder given) through `body`, as the fuzzer would. Use it to reproduce a crash.
    public static func replay(_ arguments: ArraySlice<String>, _ body: (UnsafeRawBufferPointer) -> Void) -> Int32 {
        if arguments.isEmpty {
            let name = CommandLine.arguments.first.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "fuzz-target"
            print(
                "usage: \(name) FILE-OR-FOLDER...  (runs each input as the fuzzer does; build with -DFUZZING to fuzz)")
            return 2
        }
        var files: [String] = []
        for argument in arguments {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) else {
                print("\(argument): no such file")
                return 1
            }
            if isDirectory.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: argument)) ?? []
                files += names.sorted().map { (argument as NSString).appendingPathComponent($0) }
            } else {
                files.append(argument)
            }
        }
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { continue }
            data.withUnsafeBytes { body($0) }
            print("ok \(file)")
        }
        return 0
    }
}
