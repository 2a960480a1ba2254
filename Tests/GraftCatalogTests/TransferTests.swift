import Foundation
import Testing
import TestSupport
@testable import GraftCatalog

/// `graft catalog export` / `import`: a study moves between SQLite and PostgreSQL whole.
@Suite("Catalog export and import", .enabled(if: postgresPrerequisite.runs, postgresPrerequisite.comment))
struct TransferTests {
    /// A small study in `catalog`: two runs of a comparison, epochs, checkpoints with files, an LR
    /// range test and an ensemble.
    static func fillStudy(_ catalog: Catalog) throws {
        let (comparison, _) = try catalog.findOrCreateComparison(name: "study", config: #"{"runs":1}"#)
        let dataset = try catalog.registerDataset(
            root: "/data/flowers", classNames: ["daisy", "rose"], contentHash: "h")
        let split = try catalog.registerSplit(
            SplitRecord(
                datasetId: dataset.id!, seed: 0, valFraction: 0.2, fileListHash: "f", splitPath: "/data/split.json"))
        for optimizer in ["adam", "sgd"] {
            var run = try makeRun(
                catalog, optimizer: optimizer, name: "study \(optimizer) #1", comparison: comparison.id)
            run = try catalog.markRun(run.id!, status: .running)
            for epoch in 0..<3 {
                try catalog.recordEpoch(
                    EpochMetricRecord(
                        runId: run.id!, epoch: epoch, globalStep: Int64(epoch * 10), trainLoss: 1.0 / Double(epoch + 1),
                        trainAcc: 0.5, valLoss: .infinity, valAcc: 0.25 * Double(epoch), lr: 0.1, seconds: 1.5))
                try saveCheckpoint(
                    catalog, run: run.id!, epoch: epoch, valAcc: 0.25 * Double(epoch), minimum: epoch == 2)
            }
            _ = try catalog.markRun(run.id!, status: .finished)
        }
        _ = split
        try catalog.saveLRRangeTest(
            LRTestRecord(modelId: "vanilla-cnn", optimizer: "sgd", startLr: 1e-7, endLr: 10, steps: 2),
            points: [LRTestPointRecord(step: 0, lr: 1e-7, loss: 2.3), LRTestPointRecord(step: 1, lr: 10, loss: 1e30)],
            suggestions: [LRSuggestionRecord(method: "steepest", lr: 1e-3, loss: 1.9)])
        let members = try catalog.checkpoints(filter: CheckpointFilter(minimaOnly: true)).map(\.checkpoint.id!)
        try catalog.saveEnsemble(
            EnsembleRecord(
                method: "probs", memberCheckpointIds: members, accuracy: 0.9, bestSingleAccuracy: 0.88,
                disagreement: [[0, 0.1], [0.1, 0]]),
            members: members.enumerated().map { EnsembleMemberRecord(position: $0.offset, checkpointId: $0.element) })
    }

    /// What a user sees of a catalog, through its public API.
    struct Contents {
        var runs: [RunRecord]
        var epochs: [[EpochMetricRecord]]
        var checkpoints: [CheckpointInfo]
        var comparisons: [ComparisonRecord]
        var lrTests: [Catalog.LRTestResult]
        var ensembles: [Catalog.EnsembleResult]
        var counts: [String]

        init(_ catalog: Catalog) throws {
            runs = try catalog.runs()
            epochs = try runs.map { try catalog.epochMetrics(run: $0.id!) }
            checkpoints = try catalog.checkpoints()
            comparisons = try catalog.comparisons()
            lrTests = try catalog.lrRangeTests().map { try catalog.lrRangeTest(id: $0.id!) }
            ensembles = try catalog.ensembles()
            counts = try catalog.tableCounts().map { "\($0.table)=\($0.rows)" }
        }

        /// Equal contents (LR curves and epochs compared as text, where a NaN would equal itself).
        func same(as b: Contents) -> Bool {
            let a = self
            return a.runs == b.runs && a.epochs.description == b.epochs.description && a.checkpoints == b.checkpoints
                && a.comparisons == b.comparisons && a.lrTests.description == b.lrTests.description
                && a.ensembles == b.ensembles && a.counts == b.counts
        }
    }

    static func roundTripJSON(_ dump: CatalogDump) throws -> CatalogDump {
        try JSONDecoder().decode(CatalogDump.self, from: try JSONEncoder().encode(dump))
    }

    @Test("SQLite → PostgreSQL → SQLite keeps every row, id and infinity; checkpoints verify on the new root")
    func roundTrip() throws {
        let dir = try TemporaryDirectory.make("graft-catalog")
        defer { TemporaryDirectory.remove(dir) }
        let file = try Catalog.open(at: dir.appendingPathComponent("catalog.sqlite").path)
        try Self.fillStudy(file)
        let original = try Contents(file)
        #expect(original.checkpoints.count == 6 && original.runs.count == 2)

        // The server catalog's checkpoint root is the same folder, so relative paths resolve.
        let server = try makeCatalog(.postgresql, baseDirectory: dir)
        try server.importDump(try Self.roundTripJSON(try file.exportDump()))
        #expect(try Contents(server).same(as: original))
        #expect(try server.check().findings.isEmpty)
        for c in original.checkpoints { _ = try server.verifiedFile(for: c.checkpoint) }
        // New rows continue after the imported ids on PostgreSQL's sequences.
        let next = try makeRun(server)
        #expect(next.id! == original.runs.map(\.id!).max()! + 1)

        let back = try Catalog.open(at: dir.appendingPathComponent("back/catalog.sqlite").path)
        let serverDump = try server.exportDump()
        var withoutNewRun = serverDump
        withoutNewRun.tables = serverDump.tables.map { t in
            var t = t
            if t.name == "run" { t.rows.removeLast() }
            return t
        }
        try back.importDump(try Self.roundTripJSON(withoutNewRun))
        #expect(try Contents(back).same(as: original))
    }

    @Test("import refuses a catalog that has rows, and rewrites absolute paths by prefix")
    func importRules() throws {
        let dir = try TemporaryDirectory.make("graft-catalog")
        defer { TemporaryDirectory.remove(dir) }
        let file = try Catalog.open(at: dir.appendingPathComponent("catalog.sqlite").path)
        try Self.fillStudy(file)
        let dump = try file.exportDump()

        let server = try makeCatalog(.postgresql, baseDirectory: dir.appendingPathComponent("cluster"))
        try server.importDump(
            dump, pathPrefixes: [(from: "/data", to: dir.appendingPathComponent("cluster/data").path)])
        let split = try #require(try server.store.read { db in try db.strings("SELECT split_path FROM split") }.first)
        #expect(split == "data/split.json", "rewritten under the new root, then stored relative to it")
        #expect(try server.checkpoints().map(\.checkpoint.path) == (try file.checkpoints().map(\.checkpoint.path)))

        #expect { try server.importDump(dump) } throws: { error in
            guard case .invalidValue(let name, _, let reason) = error as? CatalogError else { return false }
            return name == "catalog" && reason.contains("not empty")
        }
        var future = dump
        future.migrations.append("v9-from-the-future")
        let empty = try makeCatalog(.postgresql, baseDirectory: dir)
        #expect { try empty.importDump(future) } throws: { error in
            if case .newerSchema(_, let unknown) = error as? CatalogError { return unknown == ["v9-from-the-future"] }
            return false
        }
        #expect(try empty.runs().isEmpty, "a refused import writes nothing")
    }

    @Test(
        "the command line prints the same listings from both backends",
        .enabled(if: graftBinaryPrerequisite.runs, graftBinaryPrerequisite.comment))
    func sameOutput() throws {
        try graftBinaryPrerequisite.require()
        let graft = try #require(graftBinary()).path
        let dir = try TemporaryDirectory.make("graft-catalog")
        defer { TemporaryDirectory.remove(dir) }
        let path = dir.appendingPathComponent("catalog.sqlite").path
        try Self.fillStudy(try Catalog.open(at: path))
        let url = try PostgresTestServer.shared().createDatabase()
        let exported = dir.appendingPathComponent("study.json").path
        _ = try shell(graft, ["catalog", "export", "--catalog", path, "--output", exported])
        let imported = try shell(
            graft, ["catalog", "import", exported, "--catalog", url, "--checkpoint-root", dir.path])
        #expect(imported.contains("imported"))
        for command in [
            ["ckpt", "list", "--json"], ["ckpt", "list", "--minima"], ["ckpt", "best", "--per", "optimizer"],
            ["runs", "list", "--csv"], ["catalog", "check"],
        ] {
            let a = try shell(graft, command + ["--catalog", path])
            let b = try shell(graft, command + ["--catalog", url, "--checkpoint-root", dir.path])
            #expect(!a.isEmpty && a == b, "\(command.joined(separator: " ")) differs:\n\(a)\n---\n\(b)")
        }
    }
}
