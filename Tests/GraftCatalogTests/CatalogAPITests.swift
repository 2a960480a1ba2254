import Foundation
import GraftSupport
import Testing
import TestSupport
@testable import GraftCatalog

@Suite("Catalog: runs, metrics, comparisons, results")
struct RunAPITests {
    @Test("a run's status moves queued → running → finished with timestamps", arguments: Backend.available)
    func runLifecycle(_ backend: Backend) throws {
        let catalog = try makeCatalog(backend)
        let run = try makeRun(catalog)
        #expect(run.status == .queued)
        #expect(run.startedAt == nil)
        let t0 = Date(timeIntervalSince1970: 1_700_000_000)
        let running = try catalog.markRun(run.id!, status: .running, at: t0)
        #expect(running.startedAt == t0)
        let failed = try catalog.markRun(
            run.id!, status: .failed, error: "out of memory", at: t0.addingTimeInterval(60))
        #expect(failed.finishedAt == t0.addingTimeInterval(60))
        #expect(try catalog.run(id: run.id!).errorMessage == "out of memory")
        #expect(try catalog.run(id: run.id!).startedAt == t0)
        #expect { try catalog.markRun(4242, status: .running) } throws: {
            ($0 as? CatalogError) == .notFound(table: "run", id: 4242)
        }
        // Early stopping: its own status (the schema's constraint takes it) and its reason.
        let other = try makeRun(catalog)
        _ = try catalog.markRun(other.id!, status: .running, at: t0)
        let stopped = try catalog.markRun(other.id!, status: .stoppedEarly, error: "stopped after epoch 3", at: t0)
        let reread = try catalog.run(id: other.id!)
        #expect(reread.status == .stoppedEarly && stopped.status == .stoppedEarly)
        #expect(reread.stopReason == "stopped after epoch 3" && reread.errorMessage == nil && reread.finishedAt == t0)
        #expect(try catalog.runs(filter: RunFilter(status: .stoppedEarly)).map(\.id) == [other.id])
    }

    @Test("runs(filter:) selects by optimizer, status and comparison", arguments: Backend.available)
    func runFilter(_ backend: Backend) throws {
        let catalog = try makeCatalog(backend)
        let (cmp, created) = try catalog.findOrCreateComparison(
            name: "study", config: #"{"runs":3,"optimizers":["adam","sgd"]}"#)
        #expect(created)
        let specs: [(String, Int64?)] = [("adam", cmp.id), ("sgd", cmp.id), ("adam", nil), ("rmsprop", nil)]
        var ids: [Int64] = []
        for (opt, c) in specs { ids.append(try makeRun(catalog, optimizer: opt, comparison: c).id!) }
        try catalog.markRun(ids[0], status: .finished)
        #expect(try catalog.runs(filter: RunFilter(optimizer: "adam")).map(\.id!) == [ids[0], ids[2]])
        #expect(try catalog.runs(filter: RunFilter(comparisonId: cmp.id)).map(\.id!) == [ids[0], ids[1]])
        #expect(try catalog.runs(filter: RunFilter(status: .finished)).map(\.id!) == [ids[0]])
        #expect(try catalog.runs().count == 4)

        // Resuming the comparison finds it again; another config under the same name is refused.
        let (again, createdAgain) = try catalog.findOrCreateComparison(
            name: "study", config: #"{"optimizers":["adam","sgd"],"runs":3}"#)
        #expect(!createdAgain)
        #expect(again.id == cmp.id)
        #expect { try catalog.findOrCreateComparison(name: "study", config: #"{"runs":5}"#) } throws: {
            ($0 as? CatalogError) == .comparisonConfigMismatch(name: "study")
        }
    }

    @Test("recordEpoch stores and replaces an epoch's metrics", arguments: Backend.available)
    func epochs(_ backend: Backend) throws {
        let catalog = try makeCatalog(backend)
        let run = try makeRun(catalog)
        for e in 0..<3 {
            try catalog.recordEpoch(
                EpochMetricRecord(
                    runId: run.id!, epoch: e, trainLoss: 2.0 - Double(e),
                    trainAcc: 0.3 * Double(e), valAcc: 0.25 * Double(e), lr: 0.1))
        }
        try catalog.recordEpoch(EpochMetricRecord(runId: run.id!, epoch: 1, valAcc: 0.9))
        let metrics = try catalog.epochMetrics(run: run.id!)
        #expect(metrics.map(\.epoch) == [0, 1, 2])
        #expect(metrics.map(\.valAcc) == [0.0, 0.9, 0.5])
        #expect(metrics[1].trainLoss == nil)
    }

    @Test("datasets, splits and weights files are found again rather than duplicated", arguments: Backend.available)
    func datasets(_ backend: Backend) throws {
        let dir = try TemporaryDirectory.make("graft-catalog")
        defer { TemporaryDirectory.remove(dir) }
        let catalog = try makeCatalog(backend, baseDirectory: dir)
        let d1 = try catalog.registerDataset(
            root: "data/fmnist", classNames: ["tshirt", "trouser"], contentHash: "abc")
        let d2 = try catalog.registerDataset(
            root: "data/fmnist", classNames: ["tshirt", "trouser"], contentHash: "abc")
        #expect(d1.id == d2.id)
        #expect(d2.classNames == ["tshirt", "trouser"])
        let s1 = try catalog.registerSplit(SplitRecord(datasetId: d1.id!, seed: 3, valFraction: 0.2, fileListHash: "f"))
        let s2 = try catalog.registerSplit(SplitRecord(datasetId: d1.id!, seed: 3, valFraction: 0.2, fileListHash: "f"))
        let s3 = try catalog.registerSplit(SplitRecord(datasetId: d1.id!, seed: 4, valFraction: 0.2, fileListHash: "f"))
        #expect(s1.id == s2.id)
        #expect(s1.id != s3.id)
        // class_names is stored as JSON text, readable from SQL.
        let json = try catalog.store.read { db in try db.strings("SELECT class_names FROM dataset").first }
        #expect(json == #"["tshirt","trouser"]"#)

        let file = dir.appendingPathComponent("Weights/w.h5")
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("weights".utf8).write(to: file)
        let w = try catalog.registerWeightsFile(at: file, modelId: "resnet34")
        #expect(w.path == "Weights/w.h5")
        #expect(w.sha256 == SHA256.hex(of: Data("weights".utf8)))
        #expect(w.bytes == 7)
        let missing = dir.appendingPathComponent("Weights/missing.h5")
        #expect(throws: CatalogError.io(path: missing.path, operation: "open", errno: ENOENT)) {
            try catalog.registerWeightsFile(at: missing, modelId: "resnet34")
        }
    }

    @Test("LR range tests keep their whole curve and every suggestion", arguments: Backend.available)
    func lrTests(_ backend: Backend) throws {
        let catalog = try makeCatalog(backend)
        let run = try makeRun(catalog)
        let lrs = (0..<50).map { 1e-6 * pow(10, Double($0) / 7) }
        let points = lrs.enumerated().map {
            LRTestPointRecord(step: $0.offset, lr: $0.element, loss: 2.3 - Double($0.offset) * 0.01)
        }
        let saved = try catalog.saveLRRangeTest(
            LRTestRecord(
                runId: run.id, modelId: "vanilla-cnn", optimizer: "sgd", startLr: lrs.first!, endLr: lrs.last!,
                steps: 50),
            points: points,
            suggestions: [
                LRSuggestionRecord(method: "steepest", lr: 1e-3),
                LRSuggestionRecord(method: "min/10", lr: 3e-3, loss: 1.9),
            ])
        let loaded = try catalog.lrRangeTest(id: saved.test.id!)
        #expect(loaded.points.map(\.lr) == lrs)
        #expect(loaded.points.map(\.step) == Array(0..<50))
        #expect(Set(loaded.suggestions.map(\.method)) == ["steepest", "min/10"])
        #expect(try catalog.lrRangeTests(run: run.id).map(\.id) == [saved.test.id])
        #expect(try catalog.lrRangeTests(modelId: "resnet34").isEmpty)
    }

    @Test(
        "ensemble results keep members; the gain is accuracy minus the best single member", arguments: Backend.available
    )
    func ensembles(_ backend: Backend) throws {
        let dir = try TemporaryDirectory.make("graft-catalog")
        defer { TemporaryDirectory.remove(dir) }
        let catalog = try makeCatalog(backend, baseDirectory: dir)
        let run = try makeRun(catalog)
        let c1 = try saveCheckpoint(catalog, run: run.id!, epoch: 1, valAcc: 0.80, minimum: true)
        let c2 = try saveCheckpoint(catalog, run: run.id!, epoch: 3, valAcc: 0.83, minimum: true)
        let result = try catalog.saveEnsemble(
            EnsembleRecord(
                runId: run.id, method: "probs", memberCheckpointIds: [c1.id!, c2.id!], accuracy: 0.86,
                loss: 0.4, bestSingleAccuracy: 0.83, samples: 1000),
            members: [
                EnsembleMemberRecord(position: 0, checkpointId: c1.id, accuracy: 0.80, ensembleAccuracy: 0.80),
                EnsembleMemberRecord(position: 1, checkpointId: c2.id, accuracy: 0.83, ensembleAccuracy: 0.86),
            ])
        #expect(abs((result.ensemble.gain ?? 0) - 0.03) < 1e-12)
        let stored = try catalog.ensembles(run: run.id)
        #expect(stored.count == 1)
        #expect(stored[0].ensemble.memberCheckpointIds == [c1.id!, c2.id!])
        #expect(stored[0].members.map(\.ensembleAccuracy) == [0.80, 0.86])
        // Pruning a member keeps the result; the member's checkpoint id becomes NULL.
        try catalog.deleteCheckpoint(id: c1.id!)
        let after = try catalog.ensembles(run: run.id)
        #expect(after[0].members[0].checkpointId == nil)
        #expect(after[0].members[1].checkpointId == c2.id)
    }
}

@Suite("Catalog: checkpoints")
struct CheckpointAPITests {
    /// Three runs, two optimizers, eight epochs each with deterministic metrics.
    struct Fixture {
        let dir: URL
        let catalog: Catalog
        let runs: [RunRecord]
        let all: [CheckpointRecord]

        init(_ backend: Backend) throws {
            dir = try TemporaryDirectory.make("graft-catalog")
            catalog = try makeCatalog(backend, baseDirectory: dir)
            var runs: [RunRecord] = []
            var all: [CheckpointRecord] = []
            for (r, opt) in ["adam", "sgd", "adam"].enumerated() {
                let run = try makeRun(catalog, optimizer: opt)
                runs.append(run)
                for e in 0..<8 {
                    // Accuracy peaks at a run-dependent epoch; losses mirror it.
                    let acc = 0.5 + 0.05 * Double(r) + 0.04 * Double(7 - abs(e - (3 + r)))
                    all.append(
                        try saveCheckpoint(
                            catalog, run: run.id!, epoch: e, valAcc: acc, valLoss: 1 - acc,
                            minimum: e % 3 == 2))
                }
            }
            self.runs = runs
            self.all = all
        }
    }

    @Test(
        "a second catalog keeping its files in the same directory never writes over the first one's checkpoint",
        arguments: Backend.available)
    func sharedDirectory(_ backend: Backend) throws {
        let f = try Fixture(backend)
        defer { TemporaryDirectory.remove(f.dir) }
        let other = try makeCatalog(backend, baseDirectory: f.dir)
        let run = try makeRun(other)
        #expect(run.id == f.runs[0].id, "both catalogs number their first run 1")
        let theirs = f.catalog.url(forStoredPath: f.all[0].path)
        let before = try Data(contentsOf: theirs)
        #expect {
            try saveCheckpoint(other, run: run.id!, epoch: 0, valAcc: 0.1, content: "the other catalog's")
        } throws: { error in
            guard case .invalidValue(let name, let value, let reason)? = error as? CatalogError else { return false }
            return name == "checkpoint file" && value == theirs.path && reason.contains("not in this catalog")
        }
        #expect(try Data(contentsOf: theirs) == before)
        #expect(try other.store.read { db in try db.count(FileIntentRecord.self) } == 0)
        // Its other epochs, whose files are free, save as usual.
        #expect(try saveCheckpoint(other, run: run.id!, epoch: 9, valAcc: 0.1).epoch == 9)
    }

    @Test(
        "saveCheckpoint writes the file, records size and SHA-256, and leaves no intent", arguments: Backend.available)
    func save(_ backend: Backend) throws {
        let f = try Fixture(backend)
        defer { TemporaryDirectory.remove(f.dir) }
        let c = f.all[0]
        let url = f.catalog.url(forStoredPath: c.path)
        let data = try Data(contentsOf: url)
        #expect(c.sha256 == SHA256.hex(of: data))
        #expect(c.bytes == Int64(data.count))
        #expect(c.path == "checkpoints/run-000001/epoch-0000-step-00000000.h5")
        #expect(try f.catalog.store.read { db in try db.count(FileIntentRecord.self) } == 0)
        #expect(try f.catalog.verifiedFile(for: c) == url)
        // The same path cannot be registered twice.
        #expect(throws: CatalogError.self) {
            try saveCheckpoint(f.catalog, run: c.runId, epoch: 0, valAcc: 0.1)
        }
    }

    @Test("filters: run, optimizer, epoch range, minima, minimum val_acc", arguments: Backend.available)
    func filters(_ backend: Backend) throws {
        let f = try Fixture(backend)
        defer { TemporaryDirectory.remove(f.dir) }
        let optimizerOf = Dictionary(uniqueKeysWithValues: f.runs.map { ($0.id!, $0.optimizer) })
        func ids(_ filter: CheckpointFilter) throws -> [Int64] {
            try f.catalog.checkpoints(filter: filter).map(\.checkpoint.id!)
        }
        #expect(try ids(CheckpointFilter()) == f.all.map(\.id!))
        #expect(try ids(CheckpointFilter(run: f.runs[1].id)) == f.all.filter { $0.runId == f.runs[1].id }.map(\.id!))
        #expect(
            try ids(CheckpointFilter(optimizer: "adam")) == f.all.filter { optimizerOf[$0.runId] == "adam" }.map(\.id!))
        #expect(try ids(CheckpointFilter(epochRange: 2...4)) == f.all.filter { (2...4).contains($0.epoch) }.map(\.id!))
        #expect(try ids(CheckpointFilter(minimaOnly: true)) == f.all.filter(\.isMinimum).map(\.id!))
        #expect(try ids(CheckpointFilter(minValAcc: 0.8)) == f.all.filter { $0.valAcc! >= 0.8 }.map(\.id!))
        #expect(
            try ids(CheckpointFilter(run: f.runs[0].id, minimaOnly: true, minValAcc: 0.7))
                == f.all.filter { $0.runId == f.runs[0].id && $0.isMinimum && $0.valAcc! >= 0.7 }.map(\.id!))
        #expect(
            try f.catalog.checkpoints(filter: CheckpointFilter(optimizer: "sgd")).allSatisfy { $0.optimizer == "sgd" })
    }

    @Test("best by val_acc and val_loss, overall and per optimizer", arguments: Backend.available)
    func best(_ backend: Backend) throws {
        let f = try Fixture(backend)
        defer { TemporaryDirectory.remove(f.dir) }
        let optimizerOf = Dictionary(uniqueKeysWithValues: f.runs.map { ($0.id!, $0.optimizer) })
        func expectedBest(
            _ set: [CheckpointRecord], higher: Bool, _ key: (CheckpointRecord) -> Double
        ) -> CheckpointRecord {
            set.sorted { a, b in key(a) != key(b) ? (higher ? key(a) > key(b) : key(a) < key(b)) : a.id! < b.id! }[0]
        }
        let overall = try f.catalog.bestCheckpoint(by: .valAcc)
        #expect(overall?.checkpoint.id == expectedBest(f.all, higher: true) { $0.valAcc! }.id)
        let byLoss = try f.catalog.bestCheckpoint(by: .valLoss)
        #expect(byLoss?.checkpoint.id == expectedBest(f.all, higher: false) { $0.valLoss! }.id)

        let per = try f.catalog.bestCheckpoints(by: .valAcc, perOptimizer: true)
        #expect(per.map(\.optimizer) == ["adam", "sgd"])
        for info in per {
            let group = f.all.filter { optimizerOf[$0.runId] == info.optimizer }
            #expect(info.checkpoint.id == expectedBest(group, higher: true) { $0.valAcc! }.id)
        }
        // Filters apply before ranking.
        let early = try f.catalog.bestCheckpoint(by: .valAcc, filter: CheckpointFilter(epochRange: 0...1))
        #expect(early?.checkpoint.id == expectedBest(f.all.filter { $0.epoch <= 1 }, higher: true) { $0.valAcc! }.id)
        #expect(try f.catalog.bestCheckpoint(by: .trainAcc) == nil)
    }

    @Test(
        "an altered file is refused on load and reported by check(), naming the file and checksums",
        arguments: Backend.available)
    func altered(_ backend: Backend) throws {
        let f = try Fixture(backend)
        defer { TemporaryDirectory.remove(f.dir) }
        #expect(try f.catalog.check().findings.isEmpty)
        let victim = f.all[5]
        let url = f.catalog.url(forStoredPath: victim.path)
        var bytes = try Data(contentsOf: url)
        bytes[0] ^= 0xFF
        try bytes.write(to: url)
        let actual = SHA256.hex(of: bytes)

        #expect { try f.catalog.verifiedFile(for: victim) } throws: { error in
            (error as? CatalogError) == .checksumMismatch(path: url.path, expected: victim.sha256, actual: actual)
                && (error as? CatalogError)?.errorDescription?.contains(url.path) == true
        }
        let report = try f.catalog.check()
        #expect(report.problems.count == 1)
        let finding = try #require(report.problems.first)
        #expect(finding.kind == .checksumMismatch)
        #expect(finding.path == url.path)
        #expect(finding.checkpointId == victim.id)
        #expect(finding.detail.contains(victim.sha256) && finding.detail.contains(actual))
        // Without hashing, a same-size alteration is not visible; a truncated file is (size).
        #expect(try f.catalog.check(verifyChecksums: false).findings.isEmpty)
        try bytes.prefix(3).write(to: url)
        #expect(try f.catalog.check(verifyChecksums: false).problems.map(\.kind) == [.sizeMismatch])
    }

    @Test("check finds missing and orphan files; repair fixes them without deleting data", arguments: Backend.available)
    func checkAndRepair(_ backend: Backend) throws {
        let f = try Fixture(backend)
        defer { TemporaryDirectory.remove(f.dir) }
        let missing = f.all[2]
        try FileManager.default.removeItem(at: f.catalog.url(forStoredPath: missing.path))
        let orphan = f.catalog.checkpointDirectory(run: 1).appendingPathComponent("stray.h5")
        try Data("stray".utf8).write(to: orphan)
        let temp = f.catalog.checkpointDirectory(run: 2).appendingPathComponent(".epoch-9.h5.tmp-999999999-ab")
        try Data("partial".utf8).write(to: temp)

        let report = try f.catalog.check()
        #expect(Set(report.problems.map(\.kind)) == [.missingFile, .orphanFile])
        #expect(report.problems.first { $0.kind == .orphanFile }?.path == orphan.path)
        #expect(report.problems.first { $0.kind == .missingFile }?.checkpointId == missing.id)
        #expect(report.leftovers.map(\.kind) == [.leftoverTemporary])
        #expect(report.leftovers.first?.path == temp.path)

        let summary = try f.catalog.repair(report)
        #expect(summary.actions.count == 3)
        #expect(try f.catalog.check().findings.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: temp.path))
        #expect(
            FileManager.default.fileExists(
                atPath: f.catalog.lostAndFoundDirectory.appendingPathComponent("checkpoints/run-000001/stray.h5").path))
        #expect(throws: CatalogError.self) { try f.catalog.checkpoint(id: missing.id!) }
    }

    @Test(
        "deleteCheckpoint removes row and file together; an interrupted delete is a leftover, not a problem",
        arguments: Backend.available)
    func delete(_ backend: Backend) throws {
        let f = try Fixture(backend)
        defer { TemporaryDirectory.remove(f.dir) }
        let c = f.all[1]
        let url = f.catalog.url(forStoredPath: c.path)
        try f.catalog.deleteCheckpoint(id: c.id!)
        #expect(!FileManager.default.fileExists(atPath: url.path))
        #expect(throws: CatalogError.self) { try f.catalog.checkpoint(id: c.id!) }
        #expect(try f.catalog.check().findings.isEmpty)

        // Simulate a crash between the row's deletion and the unlink (state left by a killed process).
        let other = f.all[3]
        try f.catalog.store.write { db in
            try db.delete(CheckpointRecord.self, id: other.id!)
            var intent = FileIntentRecord(path: other.path, action: .delete, pid: 999_999_999)
            try db.insert(&intent)
        }
        let report = try f.catalog.check()
        #expect(report.problems.isEmpty)
        #expect(report.leftovers.map(\.kind) == [.interruptedDelete])
        _ = try f.catalog.repair(report)
        #expect(!FileManager.default.fileExists(atPath: f.catalog.url(forStoredPath: other.path).path))
        #expect(try f.catalog.check().findings.isEmpty)
    }

    @Test(
        "a row pointing to a temporary name is a problem; repair renames the file when it verifies",
        arguments: Backend.available)
    func temporaryRow(_ backend: Backend) throws {
        let f = try Fixture(backend)
        defer { TemporaryDirectory.remove(f.dir) }
        let dir = f.catalog.checkpointDirectory(run: 1)
        let temp = dir.appendingPathComponent(".late.h5.tmp-999999999-1")
        try Data("late".utf8).write(to: temp)
        // registerCheckpoint refuses temporary names and missing files.
        #expect(throws: CatalogError.self) {
            try f.catalog.registerCheckpoint(
                CheckpointRecord(runId: 1, epoch: 20, globalStep: 2000, lr: 0.1), fileAt: temp)
        }
        #expect(throws: CatalogError.self) {
            try f.catalog.registerCheckpoint(
                CheckpointRecord(runId: 1, epoch: 20, globalStep: 2000, lr: 0.1),
                fileAt: dir.appendingPathComponent("absent.h5"))
        }
        // A row written by other means that points to the temporary file.
        let id: Int64 = try f.catalog.store.write { db in
            var row = CheckpointRecord(
                runId: 1, epoch: 20, globalStep: 2000, lr: 0.1,
                path: f.catalog.storedPath(for: temp), bytes: 4,
                sha256: SHA256.hex(of: Data("late".utf8)))
            try db.insert(&row)
            return row.id!
        }
        let report = try f.catalog.check()
        #expect(report.problems.map(\.kind) == [.temporaryPathRow])
        _ = try f.catalog.repair(report)
        let fixed = try f.catalog.checkpoint(id: id)
        #expect(fixed.path == "checkpoints/run-000001/late.h5")
        #expect(try String(contentsOf: f.catalog.verifiedFile(for: fixed), encoding: .utf8) == "late")
        #expect(try f.catalog.check().findings.isEmpty)
    }
}
