import Foundation
import Testing
import TestSupport
@testable import GraftCatalog

/// A run whose process died shows as interrupted; files the trainer writes beside its
/// checkpoints are not orphans.
@Suite struct RunOwnershipTests {
    /// A pid that is certainly not running: a child that has exited and been reaped.
    static func deadPID() throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        return p.processIdentifier
    }

    @Test(
        "a running run records its host and pid, and is interrupted once that process is gone",
        arguments: Backend.available)
    func killedRunsShowAsInterrupted(_ backend: Backend) throws {
        let dir = try TemporaryDirectory.make("graft-catalog")
        defer { TemporaryDirectory.remove(dir) }
        let catalog = try makeCatalog(backend, in: dir)
        var run = try catalog.createRun(
            RunRecord(
                modelId: "vanilla-cnn", optimizer: "sgd", batchSize: 8,
                epochsPlanned: 3, status: .running))
        #expect(run.host == RunRecord.currentHost && run.pid == getpid() && run.heartbeatAt != nil)
        #expect(catalog.effectiveStatus(of: run) == .running)
        #expect(try catalog.check().findings.isEmpty)

        // The same row, as a process killed with SIGKILL leaves it.
        run.pid = try Self.deadPID()
        try catalog.store.write { db in try db.update(run) }
        #expect(catalog.effectiveStatus(of: try catalog.run(id: run.id!)) == .interrupted)
        let report = try catalog.check()
        let finding = try #require(report.findings.first)
        #expect(report.findings.count == 1 && finding.kind == .interruptedRun && finding.runId == run.id)
        // The library names the run; the command line adds the command that resumes it.
        #expect(finding.detail.contains("run \(run.id!)") && !finding.detail.contains("--"), "\(finding.detail)")
        #expect(report.isHealthy, "an interrupted run is not corruption")

        _ = try catalog.repair(report)
        #expect(try catalog.run(id: run.id!).status == .interrupted)
        #expect(try catalog.check().findings.isEmpty)
    }

    @Test("a run on another host is interrupted only after it stops reporting")
    func otherHostsGoStale() throws {
        var run = RunRecord(modelId: "vanilla-cnn", optimizer: "sgd", batchSize: 8, epochsPlanned: 3, status: .running)
        run.host = "elsewhere-\(UUID().uuidString)"
        run.pid = 1
        run.heartbeatAt = Date()
        #expect(!run.isAbandoned())
        #expect(run.isAbandoned(now: Date().addingTimeInterval(Catalog.staleAfter + 1)))
        run.status = .finished
        #expect(!run.isAbandoned(now: Date().addingTimeInterval(Catalog.staleAfter + 1)))
    }

    @Test("each epoch refreshes the heartbeat", arguments: Backend.available)
    func heartbeat(_ backend: Backend) throws {
        let dir = try TemporaryDirectory.make("graft-catalog")
        defer { TemporaryDirectory.remove(dir) }
        let catalog = try makeCatalog(backend, in: dir)
        var run = try catalog.createRun(
            RunRecord(
                modelId: "vanilla-cnn", optimizer: "sgd", batchSize: 8,
                epochsPlanned: 3, status: .running))
        run.heartbeatAt = Date(timeIntervalSince1970: 0)
        try catalog.store.write { db in try db.update(run) }
        _ = try catalog.recordEpoch(EpochMetricRecord(runId: run.id!, epoch: 1, trainLoss: 1, trainAcc: 0.5))
        let beat = try #require(try catalog.run(id: run.id!).heartbeatAt)
        #expect(Date().timeIntervalSince(beat) < 60)
    }

    @Test("a run's metrics file is not an orphan; a stray file is", arguments: Backend.available)
    func metricsFileIsAccountedFor(_ backend: Backend) throws {
        let dir = try TemporaryDirectory.make("graft-catalog")
        defer { TemporaryDirectory.remove(dir) }
        let catalog = try makeCatalog(backend, in: dir)
        let run = try makeRun(catalog)
        try saveCheckpoint(catalog, run: run.id!, epoch: 1, valAcc: 0.5)
        let metrics = catalog.metricsFile(run: run.id!)
        try FileManager.default.createDirectory(
            at: metrics.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: metrics)
        #expect(try catalog.check().findings.isEmpty)

        // The same name in the folder of a run the catalog does not know is an orphan.
        let stray = catalog.metricsFile(run: run.id! + 100)
        try FileManager.default.createDirectory(
            at: stray.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: stray)
        let findings = try catalog.check().findings
        #expect(findings.map(\.kind) == [.orphanFile] && findings.first?.path == stray.standardizedFileURL.path)
    }
}
