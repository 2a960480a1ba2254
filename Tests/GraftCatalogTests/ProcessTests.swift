import Foundation
import Testing
import TestSupport
@testable import GraftCatalog

/// Reliability tests with real processes: the stress workload (`graft-catalog-stress`, from
/// `Tests/CatalogStress`) writing while `graft` reads and checks.
/// Skipped, saying why, when the binary was not built next to the tests; with `CI=true` that
/// fails instead.
@Suite(
    "Catalog with several processes", .serialized,
    .enabled(
        if: graftBinaryPrerequisite.and(stressBinaryPrerequisite).runs,
        graftBinaryPrerequisite.and(stressBinaryPrerequisite).comment))
struct ProcessTests {
    /// Starts a process; `checkpointRoot` is where a PostgreSQL catalog keeps its files.
    static func spawn(_ binary: URL, _ arguments: [String], checkpointRoot: URL? = nil) throws -> ChildProcess {
        var environment: [String: String]?
        if let checkpointRoot {
            environment = ProcessInfo.processInfo.environment
            environment?[Catalog.checkpointRootVariable] = checkpointRoot.path
        }
        return try ChildProcess(binary, arguments, environment: environment)
    }

    @Test(
        "concurrent processes (4 on SQLite, 16 on PostgreSQL) write to one new catalog: nothing locked, no row lost",
        arguments: Backend.available)
    func concurrentWriters(_ backend: Backend) throws {
        try graftBinaryPrerequisite.and(stressBinaryPrerequisite).require()
        let graft = try #require(graftBinary())
        let stress = try #require(builtExecutable("graft-catalog-stress"))
        let dir = try TemporaryDirectory.make("graft-writers")
        defer { TemporaryDirectory.remove(dir) }
        let path = try makeCatalogLocation(backend, in: dir)
        let rows = 80
        let writers = backend == .sqlite ? 4 : 16
        let tags = (0..<writers).map { "writer-\($0)" }
        let procs = try tags.map { tag in
            try Self.spawn(
                stress,
                [
                    "--catalog", path, "--rows", "\(rows)", "--tag", tag,
                    "--with-files", dir.appendingPathComponent("checkpoints").path,
                ], checkpointRoot: dir)
        }
        let results = procs.map { $0.finish() }
        for (tag, r) in zip(tags, results) {
            #expect(r.status == 0, "\(tag) exited \(r.status): \(r.stderr)")
            #expect(!r.stderr.lowercased().contains("locked"), "\(tag): \(r.stderr)")
        }
        let catalog = try Catalog.open(location: path, checkpointRoot: dir.path)
        let runs = try catalog.runs()
        #expect(Set(runs.compactMap(\.name)) == Set(tags))
        for run in runs {
            #expect(run.status == .finished)
            #expect(try catalog.epochMetrics(run: run.id!).map(\.epoch) == Array(0..<rows))
            #expect(
                try catalog.checkpoints(filter: CheckpointFilter(run: run.id)).map(\.checkpoint.epoch)
                    == Array(0..<rows))
        }
        let report = try catalog.check()
        #expect(report.findings.isEmpty, "\(report.findings)")
        #expect(report.checkpointsChecked == writers * rows)

        // The CLI reads the same catalog: JSON listing and best agree with the library.
        let root = ["--checkpoint-root", dir.path]
        let listing = try shell(
            graft.path, ["ckpt", "list", "--catalog", path, "--run", "\(runs[0].id!)", "--json"] + root)
        let rowsJSON = try #require(try JSONSerialization.jsonObject(with: Data(listing.utf8)) as? [[String: Any]])
        #expect(rowsJSON.count == rows)
        #expect(rowsJSON.allSatisfy { $0["optimizer"] as? String == "sgd" && $0["run"] as? Int == Int(runs[0].id!) })
        let best = try shell(graft.path, ["ckpt", "best", "--catalog", path, "--by", "val_acc", "--json"] + root)
        let bestJSON = try #require(try JSONSerialization.jsonObject(with: Data(best.utf8)) as? [[String: Any]])
        #expect(bestJSON.first?["id"] as? Int == (try catalog.bestCheckpoint(by: .valAcc)?.checkpoint.id).map(Int.init))
        let minima = try shell(
            graft.path, ["ckpt", "list", "--catalog", path, "--minima", "--epoch", "0..11", "--csv"] + root)
        let csvLines = minima.split(separator: "\n")
        // Epochs 3, 7 and 11 are minima in every run (independently: i % 4 == 3).
        #expect(csvLines.count == 1 + writers * 3)
    }

    @Test(
        "a writer killed with SIGKILL during saves, repeatedly: check() finds nothing wrong",
        arguments: Backend.available)
    func killDuringSaves(_ backend: Backend) throws {
        try graftBinaryPrerequisite.and(stressBinaryPrerequisite).require()
        let stress = try #require(builtExecutable("graft-catalog-stress"))
        let dir = try TemporaryDirectory.make("graft-kill")
        defer { TemporaryDirectory.remove(dir) }
        let path = try makeCatalogLocation(backend, in: dir)
        let checkpoints = dir.appendingPathComponent("checkpoints").path
        // Create the catalog first, so every kill lands in the save loop.
        _ = try Catalog.open(location: path, checkpointRoot: dir.path)
        var delays: [Double] = []
        for round in 0..<8 {
            let p = try Self.spawn(
                stress,
                [
                    "--catalog", path, "--rows", "1000000",
                    "--tag", "killed-\(round)", "--with-files", checkpoints,
                ], checkpointRoot: dir)
            let delay = Double.random(in: 0.15...0.7)
            delays.append(delay)
            usleep(UInt32(delay * 1_000_000))
            kill(p.process.processIdentifier, SIGKILL)
            let r = p.finish()
            #expect(p.process.terminationReason == .uncaughtSignal, "round \(round) ended by itself: \(r.stderr)")
        }
        let catalog = try Catalog.open(location: path, checkpointRoot: dir.path)
        let saved = try catalog.checkpoints()
        #expect(!saved.isEmpty, "no checkpoint was saved before the kills (delays \(delays))")

        let report = try catalog.check()
        #expect(report.problems.isEmpty, "\(report.problems)")
        // Every registered checkpoint is complete: check() hashed them all.
        #expect(report.checkpointsChecked == saved.count)
        // Leftovers are only of the kinds an interrupted write leaves, plus the killed runs themselves.
        #expect(
            report.leftovers.allSatisfy { [.leftoverTemporary, .interruptedSave, .interruptedRun].contains($0.kind) })
        let killedRuns = try catalog.runs().filter { $0.status == .running }
        #expect(!killedRuns.isEmpty)
        #expect(
            report.findings.filter { $0.kind == .interruptedRun }.compactMap(\.runId) == killedRuns.map(\.id!),
            "each killed writer's run is found")

        _ = try catalog.repair(report)
        #expect(try catalog.check().findings.isEmpty)
        #expect(try catalog.checkpoints().count == saved.count)

        // Resume: the newest checkpoint of a killed run loads, and a child run continues from it.
        let killed = try #require(
            try catalog.runs().last { run in
                try !catalog.checkpoints(filter: CheckpointFilter(run: run.id)).isEmpty
            })
        // repair() recorded what check() found: the killed writer's run is interrupted.
        #expect(killed.status == .interrupted)
        let last = try #require(try catalog.checkpoints(filter: CheckpointFilter(run: killed.id)).last?.checkpoint)
        _ = try catalog.verifiedFile(for: last)
        try catalog.markRun(killed.id!, status: .interrupted)
        var child = killed
        child.id = nil
        child.parentRunId = killed.id
        child.resumedFromCheckpointId = last.id
        child.status = .queued
        let resumed = try catalog.createRun(child)
        let next = try saveCheckpoint(catalog, run: resumed.id!, epoch: last.epoch + 1, valAcc: 0.5)
        #expect(try catalog.verifiedFile(for: next).path.contains("run-"))
        #expect(try catalog.check().findings.isEmpty)
    }

    @Test("catalog check exits 1 and names the file when a checkpoint was altered")
    func cliCheck() throws {
        try graftBinaryPrerequisite.and(stressBinaryPrerequisite).require()
        let graft = try #require(graftBinary())
        let stress = try #require(builtExecutable("graft-catalog-stress"))
        let dir = try TemporaryDirectory.make("graft-cli")
        defer { TemporaryDirectory.remove(dir) }
        let path = dir.appendingPathComponent("catalog.sqlite").path
        let p = try Self.spawn(
            stress,
            [
                "--catalog", path, "--rows", "3", "--tag", "t",
                "--with-files", dir.appendingPathComponent("checkpoints").path,
            ])
        #expect(p.finish().status == 0)
        let catalog = try Catalog.open(at: path)
        let victim = try #require(try catalog.checkpoints().last?.checkpoint)
        let url = catalog.url(forStoredPath: victim.path)
        var data = try Data(contentsOf: url)
        data[data.count / 2] ^= 0x01
        try data.write(to: url)

        let check = try Self.spawn(graft, ["catalog", "check", "--catalog", path])
        let r = check.finish()
        #expect(r.status == 1)
        #expect(r.stdout.contains("checksum_mismatch"))
        #expect(r.stdout.contains(url.path))
        let refuse = try Self.spawn(graft, ["catalog", "check", "--catalog", path, "--repair"])
        let rr = refuse.finish()
        #expect(rr.status != 0 && rr.stderr.contains("--yes"))
        let repair = try Self.spawn(graft, ["catalog", "check", "--catalog", path, "--repair", "--yes"])
        #expect(repair.finish().status == 0)
        #expect(try catalog.checkpoints().count == 2)
    }
}
