#if os(Linux)
import Foundation
import Glibc
import GraftCatalog
import GraftData
import GraftOptim
import GraftSupport
@testable import GraftTraining
import GraftWeights
import Testing

/// Names created in, and renamed into, `directory` while `body` runs, in order (Linux inotify).
func fileEvents(in directory: URL, during body: () throws -> Void) throws -> (created: [String], renamedTo: [String]) {
    let fd = inotify_init1(Int32(IN_NONBLOCK))
    guard fd >= 0 else { throw FileError(path: directory.path, operation: "inotify_init1", code: errno) }
    defer { close(fd) }
    guard inotify_add_watch(fd, directory.path, UInt32(IN_CREATE | IN_MOVED_TO)) >= 0 else {
        throw FileError(path: directory.path, operation: "inotify_add_watch", code: errno)
    }
    try body()
    var created: [String] = [], renamedTo: [String] = []
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { break }
        var offset = 0
        // struct inotify_event: wd, mask, cookie, len, then `len` bytes of NUL-padded name.
        while offset + 16 <= n {
            let mask = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self) }
            let length = Int(buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self) })
            let name = String(
                decoding: buffer[(offset + 16)..<(offset + 16 + length)].prefix { $0 != 0 }, as: UTF8.self)
            if mask & UInt32(IN_CREATE) != 0 { created.append(name) }
            if mask & UInt32(IN_MOVED_TO) != 0 { renamedTo.append(name) }
            offset += 16 + length
        }
    }
    return (created, renamedTo)
}

@Suite struct CheckpointFileTests {
    /// The catalog's atomic replace is the only one: the checkpoint writer fills the catalog's
    /// temporary file directly instead of writing, syncing and renaming a second temporary file.
    @Test func checkpointIsWrittenThroughOneTemporaryFileAndOneRename() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("graft-once-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let catalog = try Catalog.open(at: dir.appendingPathComponent("catalog.sqlite").path)
        let run = try catalog.createRun(
            RunRecord(modelId: "vanilla-cnn", optimizer: "sgd", batchSize: 16, epochsPlanned: 1))
        let runDirectory = catalog.checkpointDirectory(run: run.id!)
        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
        let trainer = try makeTrainer()
        let snapshot = TrainingCheckpoint(
            trainer: trainer,
            configuration: .synthetic(optimizer: trainer.optimizer.config, epochs: 1),
            attributes: WeightsAttributes(
                modelID: "v", architecture: "vanilla-cnn", numClasses: 2, inputSize: [3, 16, 16],
                mean: [0, 0, 0], std: [1, 1, 1]))
        let draft = CheckpointRecord(
            runId: run.id!, epoch: 1, globalStep: 4, lr: 0.01, hasOptimizerState: true, reasons: [.periodic])

        // As TrainingRun saves a checkpoint.
        var saved: CheckpointRecord?
        let save = try fileEvents(in: runDirectory) {
            saved = try catalog.saveCheckpoint(draft) { try snapshot.write(to: $0, atomically: false) }
        }
        let record = try #require(saved)
        let finalName = URL(fileURLWithPath: record.path).lastPathComponent
        let standsFor = save.created.map { AtomicFile.finalName(forTemporary: $0) }
        #expect(standsFor == [finalName], "created: \(save.created)")
        #expect(save.renamedTo == [finalName])
        #expect(try TrainingCheckpoint.read(catalog.verifiedFile(for: record)).optimizer != nil)

        // As retention strips optimizer state.
        let strip = try fileEvents(in: runDirectory) {
            _ = try catalog.stripOptimizerState(checkpoint: record.id!, strip: TrainingCheckpoint.stripOptimizerState)
        }
        let strippedTemporaries = strip.created.filter { AtomicFile.isTemporary($0) }
        #expect(strip.created.count == 1 && strippedTemporaries.count == 1, "created: \(strip.created)")
        #expect(strip.renamedTo.count == 1)
        let stripped = try catalog.checkpoint(id: record.id!)
        #expect(try TrainingCheckpoint.read(catalog.verifiedFile(for: stripped)).optimizer == nil)
    }
}
#endif
