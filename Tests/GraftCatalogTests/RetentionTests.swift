import Foundation
@testable import GraftCatalog
import GraftReport
import Testing
import TestSupport

@Suite("Retention")
struct RetentionTests {
    @Test("keep specs parse, print back, and reject nonsense naming the bad item")
    func parse() throws {
        let spec = try KeepSpec(parsing: "best:3, minima,last")
        #expect(spec.items == [.best(3, .valAcc), .minima, .last(1)])
        #expect(spec.description == "best:3,minima,last")
        #expect(
            try KeepSpec(parsing: "best:2:val_loss,last:2,every:5").items == [.best(2, .valLoss), .last(2), .every(5)])
        for bad in ["", "best", "best:0", "best:x", "best:2:accuracy", "newest", "last:-1", "every", "minima:2"] {
            #expect(throws: CatalogError.self, "spec '\(bad)' should be refused") { try KeepSpec(parsing: bad) }
        }
        #expect { try KeepSpec(parsing: "best:3,newest") } throws: { error in
            (error as? CatalogError)?.errorDescription?.contains("newest") == true
        }
    }

    /// A spec is stored as its text, as run configurations recorded it before it had a type, and
    /// a stored spec that does not parse fails to decode, naming the bad item.
    @Test("a keep spec is stored as its text and read back typed")
    func storedAsText() throws {
        let spec = try KeepSpec(parsing: "best:2:val_loss,minima,last:2")
        let data = try JSONEncoder().encode(["keep": spec])
        #expect(String(decoding: data, as: UTF8.self) == #"{"keep":"best:2:val_loss,minima,last:2"}"#)
        #expect(try JSONDecoder().decode([String: KeepSpec].self, from: data)["keep"] == spec)
        #expect { try JSONDecoder().decode([String: KeepSpec].self, from: Data(#"{"keep":"best:3,newest"}"#.utf8)) }
            throws: { error in "\(error)".contains("newest") }
    }

    @Test("prune keeps best:2, minima and last, deletes the rest with their files", arguments: Backend.available)
    func prune(_ backend: Backend) throws {
        let dir = try TemporaryDirectory.make("graft-catalog")
        defer { TemporaryDirectory.remove(dir) }
        let catalog = try makeCatalog(backend, baseDirectory: dir)
        let run = try makeRun(catalog)
        let other = try makeRun(catalog)
        let accs = [0.50, 0.62, 0.70, 0.66, 0.74, 0.71, 0.69, 0.73, 0.60, 0.65]
        var saved: [CheckpointRecord] = []
        for (e, acc) in accs.enumerated() {
            saved.append(try saveCheckpoint(catalog, run: run.id!, epoch: e, valAcc: acc, minimum: e == 3 || e == 6))
        }
        let untouched = try saveCheckpoint(catalog, run: other.id!, epoch: 0, valAcc: 0.1)

        // Independently: best two are epochs 4 (0.74) and 7 (0.73); minima 3 and 6; last 9.
        let expectedKept: Set<Int> = [3, 4, 6, 7, 9]
        let dry = try catalog.prune(run: run.id!, keep: KeepSpec(parsing: "best:2,minima,last"), dryRun: true)
        #expect(Set(dry.kept.map(\.checkpoint.epoch)) == expectedKept)
        #expect(Set(dry.deleted.map(\.epoch)) == Set(0..<10).subtracting(expectedKept))
        #expect(dry.kept.first { $0.checkpoint.epoch == 4 }?.reasons == ["best:2"])
        #expect(try catalog.checkpoints(filter: CheckpointFilter(run: run.id)).count == 10)

        let plan = try catalog.prune(run: run.id!, keep: KeepSpec(parsing: "best:2,minima,last"))
        #expect(plan.bytesFreed == saved.filter { !expectedKept.contains($0.epoch) }.reduce(0) { $0 + $1.bytes })
        #expect(
            Set(try catalog.checkpoints(filter: CheckpointFilter(run: run.id)).map(\.checkpoint.epoch)) == expectedKept)
        for c in saved {
            let exists = FileManager.default.fileExists(atPath: catalog.url(forStoredPath: c.path).path)
            #expect(exists == expectedKept.contains(c.epoch), "file of epoch \(c.epoch)")
        }
        #expect(try catalog.checkpoint(id: untouched.id!).id == untouched.id)
        #expect(try catalog.check().findings.isEmpty)
    }

    @Test(
        "strip-optimizer rewrites kept checkpoints except the newest and keeps them registered",
        arguments: Backend.available)
    func strip(_ backend: Backend) throws {
        let dir = try TemporaryDirectory.make("graft-catalog")
        defer { TemporaryDirectory.remove(dir) }
        let catalog = try makeCatalog(backend, baseDirectory: dir)
        let run = try makeRun(catalog)
        for e in 0..<4 {
            try saveCheckpoint(
                catalog, run: run.id!, epoch: e, valAcc: Double(e) / 10,
                content: "weights-\(e)|optimizer-state-\(e)")
        }
        // The "file format" here: weights before '|', optimizer state after it.
        let plan = try catalog.prune(
            run: run.id!, keep: KeepSpec(parsing: "all"),
            stripOptimizer: { src, dst in
                let text = try String(contentsOf: src, encoding: .utf8)
                try Data(text.split(separator: "|")[0].utf8).write(to: dst)
            })
        #expect(plan.deleted.isEmpty)
        #expect(plan.stripped.map(\.epoch) == [0, 1, 2])
        let rows = try catalog.checkpoints(filter: CheckpointFilter(run: run.id)).map(\.checkpoint)
        #expect(rows.map(\.hasOptimizerState) == [false, false, false, true])
        for c in rows.prefix(3) {
            let url = try catalog.verifiedFile(for: c)
            #expect(try String(contentsOf: url, encoding: .utf8) == "weights-\(c.epoch)")
            #expect(c.path.hasSuffix(".noopt.h5"))
        }
        #expect(try catalog.check().findings.isEmpty)
    }
}

@Suite("Output formats")
struct OutputTests {
    let table = TextTable(
        columns: ["id", "name", "acc"],
        rows: [
            [.int(1), .text("adam, lr=1e-3"), .number(0.8123456, digits: 3)],
            [.int(12), .text("say \"hi\""), .null],
        ],
        rightAligned: ["id", "acc"])

    @Test("tables align columns")
    func aligned() {
        let lines = table.render(.table).split(separator: "\n").map(String.init)
        #expect(lines.count == 4)
        #expect(lines[0] == "id  name" + String(repeating: " ", count: 13) + "acc")
        #expect(lines[1] == "--  -------------  -----")
        #expect(lines[2] == " 1  adam, lr=1e-3  0.812")
        #expect(lines[3] == "12  say \"hi\"" + String(repeating: " ", count: 11) + "-")
    }

    @Test("CSV quotes per RFC 4180 and keeps full precision")
    func csv() {
        #expect(table.render(.csv) == "id,name,acc\n1,\"adam, lr=1e-3\",0.8123456\n12,\"say \"\"hi\"\"\",\n")
    }

    @Test("JSON is an array of objects with typed values")
    func json() throws {
        let parsed = try JSONSerialization.jsonObject(with: Data(table.render(.json).utf8)) as? [[String: Any]]
        let rows = try #require(parsed)
        #expect(rows.count == 2)
        #expect(rows[0]["id"] as? Int == 1)
        #expect(rows[0]["acc"] as? Double == 0.8123456)
        #expect(rows[1]["acc"] is NSNull)
        #expect(rows[1]["name"] as? String == "say \"hi\"")
    }

    @Test(
        "checkpoint listings carry the run's optimizer; sections become one JSON object", arguments: Backend.available)
    func listings(_ backend: Backend) throws {
        let dir = try TemporaryDirectory.make("graft-catalog")
        defer { TemporaryDirectory.remove(dir) }
        let catalog = try makeCatalog(backend, baseDirectory: dir)
        let run = try makeRun(catalog, optimizer: "adamax")
        try saveCheckpoint(catalog, run: run.id!, epoch: 2, valAcc: 0.75, minimum: true)
        let infos = try catalog.checkpoints()
        let text = CatalogListing.checkpoints(infos).render(.table)
        #expect(text.contains("adamax"))
        #expect(text.contains("periodic,minimum"))
        let sections = TableSection.render(
            [
                TableSection("run", CatalogListing.runFields(run), isRecord: true),
                TableSection("checkpoints", CatalogListing.checkpoints(infos)),
            ], format: .json)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(sections.utf8)) as? [String: Any])
        #expect((object["run"] as? [String: Any])?["optimizer"] as? String == "adamax")
        let ckpts = try #require(object["checkpoints"] as? [[String: Any]])
        #expect(ckpts.first?["val_acc"] as? Double == 0.75)
        #expect(ckpts.first?["minimum"] as? String == "yes")
    }
}
