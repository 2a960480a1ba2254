import Foundation
import GraftSupport
import Testing
import TestSupport

@Suite("AtomicFile")
struct AtomicFileTests {
    @Test("writes through a temporary sibling and leaves nothing else")
    func write() throws {
        let dir = try TemporaryDirectory.make("graft-support")
        defer { TemporaryDirectory.remove(dir) }
        let target = dir.appendingPathComponent("sub/file.h5")
        var tempSeen: URL?
        try AtomicFile.write(to: target) { temp in
            tempSeen = temp
            #expect(AtomicFile.isTemporary(temp.lastPathComponent))
            #expect(AtomicFile.finalName(forTemporary: temp.lastPathComponent) == "file.h5")
            #expect(AtomicFile.writerPID(ofTemporary: temp.lastPathComponent) == getpid())
            try Data("hello".utf8).write(to: temp)
        }
        #expect(try String(contentsOf: target, encoding: .utf8) == "hello")
        #expect(tempSeen.map { FileManager.default.fileExists(atPath: $0.path) } == false)
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("sub").path) == ["file.h5"])
    }

    @Test("a failing writer leaves the old file and no temporary")
    func failure() throws {
        let dir = try TemporaryDirectory.make("graft-support")
        defer { TemporaryDirectory.remove(dir) }
        let target = dir.appendingPathComponent("file.txt")
        try AtomicFile.write(Data("old".utf8), to: target)
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try AtomicFile.write(to: target) { temp in
                try Data("partial".utf8).write(to: temp)
                throw Boom()
            }
        }
        #expect(try String(contentsOf: target, encoding: .utf8) == "old")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["file.txt"])
    }

    @Test("a writer that creates no file is a FileError naming the temporary file")
    func nothingWritten() throws {
        let dir = try TemporaryDirectory.make("graft-support")
        defer { TemporaryDirectory.remove(dir) }
        #expect { try AtomicFile.write(to: dir.appendingPathComponent("never.h5")) { _ in } } throws: { error in
            guard let error = error as? FileError else { return false }
            return error.code == ENOENT
                && AtomicFile.finalName(forTemporary: URL(fileURLWithPath: error.path).lastPathComponent) == "never.h5"
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }
}
