import Foundation
import GraftCatalog
@testable import GraftStudy
import Testing
import TestSupport

/// A comparison through a real Slurm: `graft compare --slurm` submits a 2 optimizers × 2 runs array
/// of tiny runs into a PostgreSQL catalog, one task is requeued mid-run, and its run must continue from its checkpoint
/// instead of starting a duplicate. Needs the single-node cluster `make cluster-test` starts
/// (`scripts/slurm-test-cluster.sh`); skipped elsewhere.
@Suite(.serialized) struct SlurmClusterTests {
    static let cluster = ProcessInfo.processInfo.environment["GRAFT_SLURM_TEST_CLUSTER"]

    /// The `graft` built next to the tests (or `$GRAFT_BIN`): the tasks run the binary that submitted them.
    static var graft: URL {
        if let path = ProcessInfo.processInfo.environment["GRAFT_BIN"] { return URL(fileURLWithPath: path) }
        return builtExecutable("graft") ?? URL(fileURLWithPath: "graft")
    }

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    @discardableResult
    static func run(_ executable: URL, _ arguments: [String], in directory: URL) throws -> Output {
        // Output through files: a pipe left unread would stall a chatty child.
        let files = try TemporaryDirectory.make("graft-slurm-output")
        defer { TemporaryDirectory.remove(files) }
        let out = files.appendingPathComponent("stdout")
        let err = files.appendingPathComponent("stderr")
        try Data().write(to: out)
        try Data().write(to: err)
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.currentDirectoryURL = directory
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        process.waitUntilExit()
        return Output(
            status: process.terminationStatus, stdout: try String(contentsOf: out, encoding: .utf8),
            stderr: try String(contentsOf: err, encoding: .utf8))
    }

    static func slurm(_ arguments: [String]) throws -> Output {
        try run(URL(fileURLWithPath: "/usr/bin/env"), arguments, in: URL(fileURLWithPath: "/"))
    }

    @Test(
        .enabled(
            if: cluster != nil,
            "needs a test Slurm cluster: `make cluster-test` starts one (scripts/slurm-test-cluster.sh)"),
        .timeLimit(.minutes(10)))
    func requeuedTaskResumesItsRun() throws {
        let started = Date()
        let graft = Self.graft
        #expect(FileManager.default.isExecutableFile(atPath: graft.path), "build graft first: \(graft.path)")
        let directory = try TemporaryDirectory.make("graft-slurm-array")
        defer { TemporaryDirectory.remove(directory) }
        // The catalog on a PostgreSQL server, checkpoints under a root every task sees.
        try postgresPrerequisite.require()
        let catalogPath = try PostgresTestServer.shared().createDatabase()
        let root = ["--checkpoint-root", directory.appendingPathComponent("shared").path]

        // Fashion-MNIST as a small JPEG ImageFolder; epochs of a few seconds, so a task can be
        // caught between its first checkpoint and its end.
        let exported = try Self.run(
            graft, ["data", "export-fashion-mnist", "data", "--classes", "0,1,2,3,4,5", "--per-class", "150"],
            in: directory)
        try #require(exported.status == 0, "\(exported.stderr)")

        let epochs = 4
        let submitted = try Self.run(
            graft,
            [
                "compare", "--model", "vanilla-cnn", "--data", "data", "--image-size", "28", "--optimizers",
                "adam,sgd-clr", "--runs", "2", "--epochs", String(epochs), "--batch", "16", "--save-every", "1",
                "--name", "slurm array", "--catalog", catalogPath, "--quiet", "--slurm", "--cpus-per-task", "1",
                "--time", "15",
            ] + root, in: directory)
        try #require(submitted.status == 0, "\(submitted.stdout)\(submitted.stderr)")
        // "comparison 1: Slurm job 7, tasks 0-3, script …"
        let words = submitted.stdout.split(whereSeparator: { $0 == " " || $0 == "," || $0 == ":" })
        let comparisonId = try #require(words.firstIndex(of: "comparison").flatMap { Int64(words[$0 + 1]) })
        let job = try #require(words.firstIndex(of: "job").map { String(words[$0 + 1]) })
        let submittedAt = Date().timeIntervalSince(started)

        let catalog = try Catalog.open(location: catalogPath, checkpointRoot: root[1])
        #expect(try catalog.lrRangeTests().count == 1, "the LR range test ran at submission")

        // A task between its first checkpoint and its last epoch: requeue it, as a preemption would.
        var victim: (cell: Int, run: RunRecord)?
        var reportWhileRunning: Output?
        let deadline = Date().addingTimeInterval(240)
        while victim == nil, Date() < deadline {
            let progress = try ComparisonProgress(comparisonId: comparisonId, catalog: catalog)
            for cell in progress.cells where cell.state == .running && cell.epochsDone < epochs - 1 {
                let run = try catalog.run(id: cell.runId!)
                guard !(try catalog.checkpoints(filter: CheckpointFilter(run: run.id!))).isEmpty else { continue }
                if reportWhileRunning == nil {
                    reportWhileRunning = try Self.run(
                        graft, ["report", "--compare", String(comparisonId), "--catalog", catalogPath] + root,
                        in: directory)
                }
                let requeue = try Self.slurm(["scontrol", "requeue", "\(job)_\(cell.cell.index)"])
                try #require(requeue.status == 0, "scontrol requeue: \(requeue.stderr)")
                victim = (cell.cell.index, run)
                break
            }
            if victim == nil { Thread.sleep(forTimeInterval: 0.2) }
        }
        let (victimCell, before) = try #require(victim, "no task was caught mid-run")
        let requeuedAt = Date().timeIntervalSince(started)
        let report = try #require(reportWhileRunning)
        #expect(report.status == 0, "graft report --compare while the array runs: \(report.stderr)")

        var progress = try ComparisonProgress(comparisonId: comparisonId, catalog: catalog)
        while !progress.isDone, !progress.cells.contains(where: { $0.state == .failed }), Date() < deadline {
            Thread.sleep(forTimeInterval: 0.5)
            progress = try ComparisonProgress(comparisonId: comparisonId, catalog: catalog)
        }
        let logs = try FileManager.default.contentsOfDirectory(
            at: directory.appendingPathComponent("out/slurm"), includingPropertiesForKeys: nil
        ).filter { $0.pathExtension == "out" }
        let log = { (cell: Int) -> String in
            logs.first { $0.lastPathComponent.hasSuffix("_\(cell).out") }
                .flatMap { try? String(contentsOf: $0, encoding: .utf8) } ?? "(no log)"
        }
        let queue = try Self.slurm(["squeue"]).stdout
        try #require(progress.isDone, "the array did not finish: \(progress.summary)\n\(queue)\n\(log(victimCell))")
        let doneAt = Date().timeIntervalSince(started)

        let runs = try catalog.runs(filter: RunFilter(comparisonId: comparisonId))
        #expect(runs.count == 4)
        #expect(runs.allSatisfy { $0.status == .finished })
        #expect(Set(runs.map(\.name)).count == 4, "one run per cell: the requeued task made no duplicate")
        let after = try catalog.run(id: before.id!)
        #expect(progress.cells[victimCell].runId == before.id)
        #expect(after.pid != before.pid, "a second process finished the requeued run")
        #expect(try catalog.epochMetrics(run: before.id!).map(\.epoch) == Array(1...epochs))
        let victimLog = log(victimCell)
        #expect(victimLog.contains("(Slurm restart 1)"), "\(victimLog)")
        #expect(victimLog.contains("resuming run \(before.id!) from its latest checkpoint"), "\(victimLog)")
        #expect(try Self.slurm(["scontrol", "show", "job", "\(job)_\(victimCell)"]).stdout.contains("Restarts=1"))
        #expect(try catalog.lrRangeTests().count == 1, "no task ran the LR range test again")

        let status = try Self.run(
            graft, ["compare", "--status", String(comparisonId), "--catalog", catalogPath, "--csv"] + root,
            in: directory)
        let rows = status.stdout.split(separator: "\n").dropFirst()
        #expect(rows.count == 4 && rows.allSatisfy { $0.split(separator: ",")[3] == "done" }, "\(status.stdout)")

        let outside = try Self.run(
            graft,
            ["compare", "--comparison", String(comparisonId), "--array-index", "4", "--catalog", catalogPath],
            in: directory)
        #expect(outside.status != 0)
        #expect(outside.stderr.contains("--array-index 4: cell 4 is out of range: the grid has 4 cells, 0-3"))
        // Every checkpoint is under the shared root, and the catalog agrees with the disk.
        let saved = try catalog.checkpoints(filter: CheckpointFilter(comparisonId: comparisonId))
        #expect(!saved.isEmpty && saved.allSatisfy { !$0.checkpoint.path.hasPrefix("/") })
        #expect(catalog.checkpointsDirectory.path.hasPrefix(root[1]))
        #expect(try catalog.check().findings.isEmpty)

        print(
            String(
                format: "Slurm array: submitted after %.0f s, task %d requeued at %.0f s, all done at %.0f s",
                submittedAt, victimCell, requeuedAt, doneAt))
    }
}
