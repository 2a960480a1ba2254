import Foundation
import GraftSupport
import GRDB
import Testing
import TestSupport
@testable import GraftCatalog

@Suite("Catalog schema and migrations")
struct SchemaTests {
    @Test("a new file catalog has every table and index, WAL, foreign keys and all migrations")
    func freshFile() throws {
        let dir = try TemporaryDirectory.make("graft-catalog")
        defer { TemporaryDirectory.remove(dir) }
        let catalog = try Catalog.open(at: dir.appendingPathComponent("Catalog/catalog.sqlite").path)
        #expect(try catalog.appliedMigrations() == Catalog.knownMigrations)
        try (catalog.store as! SQLiteStore).writer.read { (db: Database) throws -> Void in
            for table in [
                "weights_file", "dataset", "split", "comparison", "run", "epoch_metric", "checkpoint",
                "lr_test", "lr_test_point", "lr_test_suggestion", "ensemble", "ensemble_member", "file_intent",
                "evaluation",
            ] {
                #expect(try db.tableExists(table), "missing table \(table)")
            }
            let indexes = Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index'"))
            for index in [
                "checkpoint_on_run", "checkpoint_on_run_minimum", "checkpoint_on_val_acc",
                "run_on_optimizer", "run_on_split", "run_on_comparison", "evaluation_on_run",
                "evaluation_on_checkpoint",
            ] {
                #expect(indexes.contains(index), "missing index \(index)")
            }
            #expect(try String.fetchOne(db, sql: "PRAGMA journal_mode") == "wal")
            #expect(try Bool.fetchOne(db, sql: "PRAGMA foreign_keys") == true)
        }
        // Foreign keys are enforced: a metric for a run that does not exist is refused.
        #expect(throws: CatalogError.self) {
            try catalog.recordEpoch(EpochMetricRecord(runId: 999, epoch: 0))
        }
    }

    @Test(
        "a new PostgreSQL catalog has the same tables, columns and indexes, all migrations, and enforces foreign keys",
        .enabled(if: postgresPrerequisite.runs, postgresPrerequisite.comment))
    func freshServer() throws {
        let dir = try TemporaryDirectory.make("graft-catalog")
        defer { TemporaryDirectory.remove(dir) }
        let server = try makeCatalog(.postgresql, baseDirectory: dir)
        let file = try Catalog.open(at: dir.appendingPathComponent("catalog.sqlite").path)
        #expect(try server.appliedMigrations() == Catalog.knownMigrations)
        #expect(
            server.backend == .postgresql
                && server.checkpointsDirectory.path == dir.appendingPathComponent("checkpoints").path)
        // Column names, table by table, as each backend reports them.
        let sqliteColumns = try file.store.read { db in
            try Catalog.tablesInDependencyOrder.map { t in
                try db.strings("SELECT name FROM pragma_table_info('\(t.name)') ORDER BY cid")
            }
        }
        let serverColumns = try server.store.read { db in
            try Catalog.tablesInDependencyOrder.map { t in
                try db.strings(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
                    [t.name])
            }
        }
        #expect(serverColumns == sqliteColumns)
        #expect(serverColumns.allSatisfy { !$0.isEmpty })
        let indexes = Set(try server.store.read { db in try db.strings("SELECT indexname FROM pg_indexes") })
        for index in [
            "checkpoint_on_run", "checkpoint_on_run_minimum", "checkpoint_on_val_acc", "run_on_optimizer",
            "run_on_split", "run_on_comparison", "run_on_parent", "ensemble_on_run", "file_intent_on_path",
            "evaluation_on_run", "evaluation_on_checkpoint",
        ] {
            #expect(indexes.contains(index), "missing index \(index)")
        }
        #expect { try server.recordEpoch(EpochMetricRecord(runId: 999, epoch: 0)) } throws: { error in
            (error as? CatalogError)?.errorDescription?.contains("foreign key") == true
        }
        // Migrating again changes nothing.
        try server.migrate()
        #expect(try server.appliedMigrations() == Catalog.knownMigrations)
    }

    @Test(
        "a PostgreSQL catalog from a newer Graft is refused, naming the migration, and left unchanged",
        .enabled(if: postgresPrerequisite.runs, postgresPrerequisite.comment))
    func newerServerRefused() throws {
        let url = try PostgresTestServer.shared().createDatabase()
        let catalog = try Catalog.open(location: url)
        _ = try makeRun(catalog)
        try catalog.store.write { db in
            try db.execute(
                "INSERT INTO graft_migrations (identifier, applied_order) VALUES ('v9-from-the-future', 99)")
        }
        #expect { try Catalog.open(location: url) } throws: { error in
            guard case .newerSchema(_, let unknown) = error as? CatalogError else { return false }
            return unknown == ["v9-from-the-future"]
        }
        #expect(try catalog.runs().count == 1)
    }

    @Test("an older catalog (v1 only) opens, migrates and keeps its rows")
    func olderMigrates() throws {
        let dir = try TemporaryDirectory.make("graft-catalog")
        defer { TemporaryDirectory.remove(dir) }
        let path = dir.appendingPathComponent("old.sqlite").path
        // Given a catalog written by a Graft that only knew "v1".
        do {
            let pool = try DatabasePool(path: path)
            try SQLiteStore.migrator.migrate(pool, upTo: "v1")
            try pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO run (model_id, optimizer, optimizer_params, schedule, schedule_params, freeze_spec,
                                         bn_policy, seed, batch_size, epochs_planned, status, created_at)
                        VALUES ('vanilla-cnn', 'sgd', '{"lr":0.1}', 'triangular', '{}', '', 'train', 7, 64, 5, 'finished',
                                '2024-01-02 03:04:05.000')
                        """)
            }
            #expect(try pool.read { db in try db.tableExists("file_intent") } == false)
            try pool.close()
        }
        // When the current code opens it.
        let catalog = try Catalog.open(at: path)
        // Then it is migrated, and the old row is intact and usable.
        #expect(try catalog.appliedMigrations() == Catalog.knownMigrations)
        #expect(Catalog.knownMigrations.count > 1)
        let runs = try catalog.runs()
        #expect(runs.count == 1)
        #expect(runs.first?.optimizer == "sgd")
        #expect(runs.first?.seed == 7)
        #expect(runs.first?.status == .finished)
        let c = try saveCheckpoint(catalog, run: runs[0].id!, epoch: 1, valAcc: 0.5)
        #expect(try catalog.checkpoint(id: c.id!).valAcc == 0.5)
    }

    @Test("a catalog from a newer Graft is refused with a clear message and left untouched")
    func newerRefused() throws {
        let dir = try TemporaryDirectory.make("graft-catalog")
        defer { TemporaryDirectory.remove(dir) }
        let path = dir.appendingPathComponent("new.sqlite").path
        do {
            let catalog = try Catalog.open(at: path)
            _ = try makeRun(catalog)
            try catalog.store.write { db in
                try db.execute("INSERT INTO grdb_migrations (identifier) VALUES ('v9-from-the-future')")
                try db.execute("CREATE TABLE future_table (x INTEGER)")
            }
            try catalog.close()
        }
        // The database and its write-ahead log must be unchanged (the -shm file is only a
        // shared-memory index that any reader rewrites).
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !$0.hasSuffix("-shm") }
            .sorted()
        #expect(files.contains("new.sqlite"))
        let before = try files.map { try SHA256.hex(of: dir.appendingPathComponent($0)) }

        #expect { try Catalog.open(at: path) } throws: { error in
            guard case .newerSchema(let p, let unknown) = error as? CatalogError else { return false }
            let message = (error as? CatalogError)?.errorDescription ?? ""
            return p.hasSuffix("new.sqlite") && unknown == ["v9-from-the-future"]
                && message.contains("newer Graft") && message.contains("v9-from-the-future")
        }
        let after = try files.map { try SHA256.hex(of: dir.appendingPathComponent($0)) }
        #expect(before == after)
        let (futureTable, runCount) = try DatabaseQueue(path: path).read { db in
            (try db.tableExists("future_table"), try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM run"))
        }
        #expect(futureTable)
        #expect(runCount == 1)
    }

    @Test("stored paths are relative inside the catalog's directory, absolute outside")
    func paths() throws {
        let dir = try TemporaryDirectory.make("graft-catalog")
        defer { TemporaryDirectory.remove(dir) }
        let catalog = try Catalog.inMemory(baseDirectory: dir)
        let inside = dir.appendingPathComponent("checkpoints/run-000001/a.h5")
        #expect(catalog.storedPath(for: inside) == "checkpoints/run-000001/a.h5")
        #expect(catalog.url(forStoredPath: "checkpoints/run-000001/a.h5").path == inside.path)
        #expect(catalog.storedPath(for: URL(fileURLWithPath: "/elsewhere/w.h5")) == "/elsewhere/w.h5")
        #expect(Catalog.resolvedPath(explicit: nil, environment: [:]) == "Catalog/catalog.sqlite")
        #expect(Catalog.resolvedPath(explicit: nil, environment: ["GRAFT_CATALOG": "/x.sqlite"]) == "/x.sqlite")
        #expect(Catalog.resolvedPath(explicit: "y.sqlite", environment: ["GRAFT_CATALOG": "/x.sqlite"]) == "y.sqlite")
        #expect(Catalog.isServerURL("postgresql://u@h/db") && Catalog.isServerURL("postgres://h/db"))
        #expect(!Catalog.isServerURL("Catalog/postgresql.sqlite"))
        #expect(PostgresStore.withoutPassword("postgresql://u:secret@h:5432/db") == "postgresql://u@h:5432/db")
    }
}

@Suite("Catalog open errors")
struct OpenErrorTests {
    @Test("a file that is not a catalog is refused, naming it")
    func notADatabase() throws {
        let dir = try TemporaryDirectory.make("graft-catalog")
        defer { TemporaryDirectory.remove(dir) }
        let file = dir.appendingPathComponent("notes.sqlite")
        try Data(String(repeating: "not sqlite ", count: 100).utf8).write(to: file)
        #expect { try Catalog.open(at: file.path) } throws: { error in
            guard case .cannotOpen(let path, _) = error as? CatalogError else { return false }
            return path == file.path && (error as? CatalogError)?.errorDescription?.contains(file.path) == true
        }
    }

    @Test("a PostgreSQL server that cannot be reached is refused, naming the URL without its password")
    func unreachableServer() throws {
        let dir = try TemporaryDirectory.make("graft-catalog")
        defer { TemporaryDirectory.remove(dir) }
        let url = "postgresql://someone:hunter2@/graft?host=\(dir.path)&port=1&connect_timeout=2"
        #expect { try Catalog.open(location: url) } throws: { error in
            guard case .cannotOpen(let where_, _) = error as? CatalogError else { return false }
            let message = (error as? CatalogError)?.errorDescription ?? ""
            return where_.contains("someone@") && !message.contains("hunter2") && message.contains(dir.path)
        }
    }
}
