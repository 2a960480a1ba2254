import Foundation
import GRDB
import Testing
import TestSupport

@testable import GraftCatalog

/// The `evaluation` table: a row per `graft evaluate`, on both backends, and never read by what
/// chooses a checkpoint.
struct EvaluationRecordTests {
    static func details(mistakes: Int = 2) -> EvaluationDetails {
        EvaluationDetails(
            classNames: ["cat", "dog"],
            perClass: [
                .init(className: "cat", precision: 0.75, recall: 0.6, f1: 2 * 0.75 * 0.6 / 1.35, support: 5),
                .init(
                    className: "dog", precision: 2.0 / 3, recall: 0.8, f1: 2 * (2.0 / 3) * 0.8 / (2.0 / 3 + 0.8),
                    support: 5),
            ],
            confusion: [[3, 2], [1, 4]],
            reliability: [
                .init(lower: 0, upper: 0.5, count: 0, confidence: nil, accuracy: nil),
                .init(lower: 0.5, upper: 1, count: 10, confidence: 0.8125, accuracy: 0.7),
            ],
            mistakes: (0..<mistakes).map {
                .init(
                    sample: "cat/\($0).jpg", index: $0, trueClass: 0, predictedClass: 1,
                    probability: 0.9 - 0.1 * Double($0),
                    loss: 2.5 - Double($0), thumbnailJPEG: Data([0xFF, 0xD8, UInt8($0)]).base64EncodedString())
            })
    }

    static func record(
        run: Int64?, checkpoint: Int64?, kind: EvaluationDataKind = .folder, accuracy: Double = 0.7
    ) -> EvaluationRecord {
        EvaluationRecord(
            runId: run, checkpointId: checkpoint, model: "checkpoint \(checkpoint ?? 0)", dataKind: kind,
            dataPath: kind == .folder ? "/data/pets-test" : nil, isTest: kind != .validation, tta: "flip", images: 10,
            accuracy: accuracy, topK: [.init(k: 1, accuracy: accuracy), .init(k: 2, accuracy: 1)], macroF1: 0.6955,
            logLoss: 0.5123, ece: 0.1125, seconds: 1.25, details: details(),
            createdAt: Date(timeIntervalSince1970: 1_700_000_000.125))
    }

    @Test("an evaluation round-trips whole, details and mistakes included", arguments: Backend.available)
    func roundTrip(_ backend: Backend) throws {
        let dir = try TemporaryDirectory.make("graft-evaluation")
        defer { TemporaryDirectory.remove(dir) }
        let catalog = try makeCatalog(backend, baseDirectory: dir)
        let run = try makeRun(catalog)
        let checkpoint = try saveCheckpoint(catalog, run: run.id!, epoch: 1, valAcc: 0.5)
        let first = try catalog.recordEvaluation(Self.record(run: run.id, checkpoint: checkpoint.id))
        let second = try catalog.recordEvaluation(
            Self.record(run: run.id, checkpoint: checkpoint.id, kind: .validation, accuracy: 0.5))
        let other = try catalog.recordEvaluation(Self.record(run: nil, checkpoint: nil, kind: .fashionMNISTTest))
        #expect(first.id != nil && second.id! > first.id!)
        let read = try catalog.evaluation(id: first.id!)
        #expect(read == first)
        #expect(read.details.confusion == [[3, 2], [1, 4]])
        #expect(read.details.mistakes.map(\.sample) == ["cat/0.jpg", "cat/1.jpg"])
        #expect(read.details.reliability[0].confidence == nil)
        #expect(read.topK == [.init(k: 1, accuracy: 0.7), .init(k: 2, accuracy: 1)])
        #expect(read.isTest && read.dataKind == .folder && read.tta == "flip")
        #expect(try catalog.evaluation(id: second.id!).isTest == false)
        #expect(try catalog.evaluations().map(\.id) == [first.id, second.id, other.id])
        #expect(try catalog.evaluations(run: run.id!).map(\.id) == [first.id, second.id])
        #expect(try catalog.evaluations(checkpoint: checkpoint.id!).count == 2)
        #expect(throws: CatalogError.self) { try catalog.evaluation(id: 999) }
        // A data kind the table does not know is refused by its CHECK constraint.
        #expect(throws: (any Error).self) {
            try catalog.store.write { db in
                try db.execute("UPDATE evaluation SET data_kind = 'imagenet' WHERE id = ?", [first.id!])
            }
        }
    }

    @Test("a weights file is stored by path and SHA-256, with no checkpoint", arguments: Backend.available)
    func weightsFile(_ backend: Backend) throws {
        let dir = try TemporaryDirectory.make("graft-evaluation")
        defer { TemporaryDirectory.remove(dir) }
        let catalog = try makeCatalog(backend, baseDirectory: dir)
        var record = Self.record(run: nil, checkpoint: nil)
        record.weightsPath = dir.appendingPathComponent("exported/model.h5").path
        record.weightsSha256 = String(repeating: "ab", count: 32)
        let stored = try catalog.recordEvaluation(record)
        let read = try catalog.evaluation(id: stored.id!)
        #expect(read.checkpointId == nil && read.ensembleId == nil)
        #expect(read.weightsPath == "exported/model.h5", "stored relative to the catalog's directory")
        #expect(read.weightsSha256 == record.weightsSha256)
    }

    @Test("choosing the best checkpoint never reads evaluations", arguments: Backend.available)
    func choicesIgnoreEvaluations(_ backend: Backend) throws {
        let dir = try TemporaryDirectory.make("graft-evaluation")
        defer { TemporaryDirectory.remove(dir) }
        let catalog = try makeCatalog(backend, baseDirectory: dir)
        let run = try makeRun(catalog)
        let better = try saveCheckpoint(catalog, run: run.id!, epoch: 1, valAcc: 0.8)
        let worse = try saveCheckpoint(catalog, run: run.id!, epoch: 2, valAcc: 0.6)
        // The worse checkpoint scores far higher on a test set: that must change nothing.
        try catalog.recordEvaluation(Self.record(run: run.id, checkpoint: worse.id, accuracy: 0.99))
        try catalog.recordEvaluation(Self.record(run: run.id, checkpoint: better.id, accuracy: 0.1))
        #expect(
            try catalog.bestCheckpoint(by: .valAcc, filter: CheckpointFilter(run: run.id!))?.checkpoint.id == better.id)
    }

    @Test("a catalog from before the evaluation table migrates and records evaluations")
    func olderMigrates() throws {
        let dir = try TemporaryDirectory.make("graft-catalog")
        defer { TemporaryDirectory.remove(dir) }
        let path = dir.appendingPathComponent("old.sqlite").path
        do {
            let pool = try DatabasePool(path: path)
            try SQLiteStore.migrator.migrate(pool, upTo: "v5-run-comparison-cell")
            #expect(try pool.read { db in try db.tableExists("evaluation") } == false)
            try pool.close()
        }
        let catalog = try Catalog.open(at: path)
        #expect(try catalog.appliedMigrations() == Catalog.knownMigrations)
        #expect(Catalog.knownMigrations.contains("v6-evaluation"))
        let run = try makeRun(catalog)
        let stored = try catalog.recordEvaluation(Self.record(run: run.id, checkpoint: nil))
        #expect(try catalog.evaluations(run: run.id!).map(\.id) == [stored.id])
    }

    @Test("an evaluation survives its checkpoint's deletion, without the checkpoint id", arguments: Backend.available)
    func checkpointDeleted(_ backend: Backend) throws {
        let dir = try TemporaryDirectory.make("graft-evaluation")
        defer { TemporaryDirectory.remove(dir) }
        let catalog = try makeCatalog(backend, baseDirectory: dir)
        let run = try makeRun(catalog)
        let checkpoint = try saveCheckpoint(catalog, run: run.id!, epoch: 1, valAcc: 0.5)
        let stored = try catalog.recordEvaluation(Self.record(run: run.id, checkpoint: checkpoint.id))
        try catalog.deleteCheckpoint(id: checkpoint.id!)
        let read = try catalog.evaluation(id: stored.id!)
        #expect(read.checkpointId == nil)
        #expect(read.runId == run.id && read.accuracy == 0.7)
    }
}
