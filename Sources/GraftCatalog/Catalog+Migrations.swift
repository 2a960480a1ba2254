import GRDB

// The schema's history, once per backend, under the same names. A migration is never edited once
// released: schema changes are new migrations appended at the end of both lists. A catalog
// holding a migration a list lacks was written by a newer Graft and is refused
// (`CatalogError.newerSchema`). Every table and column is documented in Catalog/README.md.

extension Catalog {
    /// Names of every migration this build knows, oldest first (the same on both backends).
    public static var knownMigrations: [String] { SQLiteStore.migrator.migrations }
}

extension SQLiteStore {
    /// SQLite's migrations, through GRDB's migrator (its `grdb_migrations` table).
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()

        // Runs, metrics, checkpoints and what they point to.
        migrator.registerMigration("v1") { db in
            try db.create(table: "weights_file") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("path", .text).notNull().unique()
                t.column("model_id", .text).notNull()
                t.column("sha256", .text).notNull()
                t.column("bytes", .integer).notNull()
                t.column("created_at", .datetime).notNull()
            }
            try db.create(table: "dataset") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("root", .text).notNull()
                t.column("class_names", .jsonText).notNull()
                t.column("content_hash", .text).notNull()
                t.column("created_at", .datetime).notNull()
                t.uniqueKey(["root", "content_hash"])
            }
            try db.create(table: "split") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("dataset_id", .integer).notNull().references("dataset", onDelete: .restrict)
                t.column("seed", .integer).notNull()
                t.column("val_fraction", .double).notNull()
                t.column("file_list_hash", .text).notNull()
                t.column("split_path", .text)
                t.column("created_at", .datetime).notNull()
                t.uniqueKey(["dataset_id", "seed", "val_fraction", "file_list_hash"])
            }
            try db.create(table: "comparison") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("name", .text).notNull().unique()
                t.column("config", .jsonText).notNull()
                t.column("created_at", .datetime).notNull()
            }
            try db.create(table: "run") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("name", .text)
                t.column("model_id", .text).notNull()
                t.column("source_weights_id", .integer).references("weights_file", onDelete: .setNull)
                t.column("source_weights", .text)
                t.column("dataset_id", .integer).references("dataset", onDelete: .restrict)
                t.column("split_id", .integer).references("split", onDelete: .restrict)
                t.column("optimizer", .text).notNull()
                t.column("optimizer_params", .jsonText).notNull()
                t.column("schedule", .text).notNull()
                t.column("schedule_params", .jsonText).notNull()
                t.column("freeze_spec", .text).notNull()
                t.column("bn_policy", .text).notNull()
                t.column("seed", .integer).notNull()
                t.column("batch_size", .integer).notNull()
                t.column("epochs_planned", .integer).notNull()
                t.column("status", .text).notNull()
                    .check { ["queued", "running", "finished", "failed", "interrupted"].contains($0) }
                t.column("parent_run_id", .integer).references("run", onDelete: .setNull)
                t.column("resumed_from_checkpoint_id", .integer)
                t.column("comparison_id", .integer).references("comparison", onDelete: .setNull)
                t.column("error_message", .text)
                t.column("created_at", .datetime).notNull()
                t.column("started_at", .datetime)
                t.column("finished_at", .datetime)
            }
            try db.create(index: "run_on_optimizer", on: "run", columns: ["optimizer"])
            try db.create(index: "run_on_split", on: "run", columns: ["split_id"])
            try db.create(index: "run_on_comparison", on: "run", columns: ["comparison_id"])
            try db.create(index: "run_on_parent", on: "run", columns: ["parent_run_id"])

            try db.create(table: "epoch_metric") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("run_id", .integer).notNull().references("run", onDelete: .cascade)
                t.column("epoch", .integer).notNull()
                t.column("global_step", .integer)
                t.column("train_loss", .double)
                t.column("train_acc", .double)
                t.column("val_loss", .double)
                t.column("val_acc", .double)
                t.column("lr", .double)
                t.column("seconds", .double)
                t.uniqueKey(["run_id", "epoch"])
            }
            try db.create(table: "checkpoint") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("run_id", .integer).notNull().references("run", onDelete: .restrict)
                t.column("epoch", .integer).notNull()
                t.column("global_step", .integer).notNull()
                t.column("lr", .double).notNull()
                t.column("cycle_index", .integer)
                t.column("is_minimum", .boolean).notNull().defaults(to: false)
                t.column("train_loss", .double)
                t.column("train_acc", .double)
                t.column("val_loss", .double)
                t.column("val_acc", .double)
                t.column("path", .text).notNull().unique()
                t.column("bytes", .integer).notNull()
                t.column("sha256", .text).notNull()
                t.column("has_optimizer_state", .boolean).notNull()
                t.column("kind", .text).notNull()
                t.column("created_at", .datetime).notNull()
            }
            try db.create(index: "checkpoint_on_run", on: "checkpoint", columns: ["run_id", "epoch"])
            try db.create(index: "checkpoint_on_run_minimum", on: "checkpoint", columns: ["run_id", "is_minimum"])
            try db.create(index: "checkpoint_on_val_acc", on: "checkpoint", columns: ["val_acc"])

            try db.create(table: "lr_test") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("run_id", .integer).references("run", onDelete: .setNull)
                t.column("model_id", .text).notNull()
                t.column("dataset_id", .integer).references("dataset", onDelete: .setNull)
                t.column("split_id", .integer).references("split", onDelete: .setNull)
                t.column("optimizer", .text).notNull()
                t.column("start_lr", .double).notNull()
                t.column("end_lr", .double).notNull()
                t.column("steps", .integer).notNull()
                t.column("config", .jsonText).notNull()
                t.column("created_at", .datetime).notNull()
            }
            try db.create(table: "lr_test_point") { t in
                t.column("lr_test_id", .integer).notNull().references("lr_test", onDelete: .cascade)
                t.column("step", .integer).notNull()
                t.column("lr", .double).notNull()
                t.column("loss", .double).notNull()
                t.column("smoothed_loss", .double)
                t.primaryKey(["lr_test_id", "step"])
            }
            try db.create(table: "lr_test_suggestion") { t in
                t.column("lr_test_id", .integer).notNull().references("lr_test", onDelete: .cascade)
                t.column("method", .text).notNull()
                t.column("lr", .double).notNull()
                t.column("loss", .double)
                t.primaryKey(["lr_test_id", "method"])
            }
            try db.create(table: "ensemble") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("run_id", .integer).references("run", onDelete: .setNull)
                t.column("method", .text).notNull()
                t.column("member_checkpoint_ids", .jsonText).notNull()
                t.column("accuracy", .double).notNull()
                t.column("loss", .double)
                t.column("best_single_accuracy", .double)
                t.column("gain", .double)
                t.column("evaluated_on", .text).notNull()
                t.column("samples", .integer)
                t.column("created_at", .datetime).notNull()
            }
            try db.create(index: "ensemble_on_run", on: "ensemble", columns: ["run_id"])
            try db.create(table: "ensemble_member") { t in
                t.column("ensemble_id", .integer).notNull().references("ensemble", onDelete: .cascade)
                t.column("position", .integer).notNull()
                t.column("checkpoint_id", .integer).references("checkpoint", onDelete: .setNull)
                t.column("accuracy", .double)
                t.column("loss", .double)
                t.column("ensemble_accuracy", .double)
                t.column("selected", .boolean).notNull()
                t.primaryKey(["ensemble_id", "position"])
            }
        }

        // Crash-safety journal for checkpoint files (see FileIntentRecord).
        migrator.registerMigration("v2-file-intent") { db in
            try db.create(table: "file_intent") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("path", .text).notNull()
                t.column("action", .text).notNull().check { ["save", "delete"].contains($0) }
                t.column("pid", .integer).notNull()
                t.column("created_at", .datetime).notNull()
            }
            try db.create(index: "file_intent_on_path", on: "file_intent", columns: ["path"])
        }

        // Who is training a running run, so a killed one can be told from a live one.
        migrator.registerMigration("v3-run-owner") { db in
            try db.alter(table: "run") { t in
                t.add(column: "host", .text)
                t.add(column: "pid", .integer)
                t.add(column: "heartbeat_at", .datetime)
            }
        }

        // How differently an ensemble's members predict (matrices as JSON).
        migrator.registerMigration("v4-ensemble-diversity") { db in
            try db.alter(table: "ensemble") { t in
                t.add(column: "disagreement", .text)
                t.add(column: "correlation", .text)
            }
        }

        // Which cell of its comparison's grid a run trains. Runs made before are matched to their
        // cells when their comparison next runs (`ComparisonRunner.begin`).
        migrator.registerMigration("v5-run-comparison-cell") { db in
            try db.alter(table: "run") { t in t.add(column: "comparison_cell", .integer) }
            try db.create(index: "run_on_comparison_cell", on: "run", columns: ["comparison_id", "comparison_cell"])
        }

        // One row per `graft evaluate`: what was scored, on which data, the headline figures and
        // the full metrics as JSON. Nothing that chooses (best checkpoint, advice, LR rules)
        // reads this table: test figures never feed a choice.
        migrator.registerMigration("v6-evaluation") { db in
            try db.create(table: "evaluation") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("run_id", .integer).references("run", onDelete: .setNull)
                t.column("checkpoint_id", .integer).references("checkpoint", onDelete: .setNull)
                t.column("ensemble_id", .integer).references("ensemble", onDelete: .setNull)
                t.column("weights_path", .text)
                t.column("weights_sha256", .text)
                t.column("model", .text).notNull()
                t.column("data_kind", .text).notNull()
                    .check { ["validation", "folder", "fashion-mnist-test"].contains($0) }
                t.column("data_path", .text)
                t.column("is_test", .boolean).notNull()
                t.column("tta", .text)
                t.column("images", .integer).notNull()
                t.column("accuracy", .double).notNull()
                t.column("top_k", .jsonText).notNull()
                t.column("macro_f1", .double).notNull()
                t.column("log_loss", .double).notNull()
                t.column("ece", .double).notNull()
                t.column("seconds", .double).notNull()
                t.column("metrics", .jsonText).notNull()
                t.column("created_at", .datetime).notNull()
            }
            try db.create(index: "evaluation_on_run", on: "evaluation", columns: ["run_id"])
            try db.create(index: "evaluation_on_checkpoint", on: "evaluation", columns: ["checkpoint_id"])
        }

        // Early stopping: status `stopped_early` and its reason. SQLite cannot change a CHECK
        // constraint, so the table is rebuilt from its own definition with the new value
        // (foreign keys are off while a migration runs, and checked when it ends).
        migrator.registerMigration("v7-run-stopped-early") { db in
            let statuses = "'queued', 'running', 'finished', 'failed', 'interrupted'"
            guard
                let table = try String.fetchOne(
                    db, sql: "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'run'"),
                table.contains(statuses)
            else { throw CatalogError.database(reason: "the run table's status constraint is not the one expected") }
            let indexes = try String.fetchAll(
                db, sql: "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'run' AND sql IS NOT NULL")
            let sequence = try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'run'")
            try db.execute(
                sql: table.replacingOccurrences(of: "CREATE TABLE \"run\"", with: "CREATE TABLE \"run_rebuilt\"")
                    .replacingOccurrences(of: statuses, with: statuses + ", 'stopped_early'"))
            try db.execute(sql: "INSERT INTO run_rebuilt SELECT * FROM run")
            try db.execute(sql: "DROP TABLE run")
            try db.execute(sql: "ALTER TABLE run_rebuilt RENAME TO run")
            for index in indexes { try db.execute(sql: index) }
            // AUTOINCREMENT never reuses an id, not even that of a deleted run.
            if let sequence {
                try db.execute(sql: "UPDATE sqlite_sequence SET seq = ? WHERE name = 'run'", arguments: [sequence])
            }
            try db.alter(table: "run") { t in t.add(column: "stop_reason", .text) }
        }

        // The weight EMA's validation figures beside the plain ones (`--ema`), NULL without one.
        migrator.registerMigration("v8-epoch-ema-metrics") { db in
            try db.alter(table: "epoch_metric") { t in
                t.add(column: "ema_val_loss", .double)
                t.add(column: "ema_val_acc", .double)
            }
        }
        return migrator
    }
}

extension PostgresStore {
    /// PostgreSQL's migrations: the same tables, columns, keys and indexes as SQLite's, in its
    /// types (BIGINT for integers, TIMESTAMP(3) in UTC for dates, TEXT for JSON so it reads back
    /// byte for byte), recorded in `graft_migrations`.
    static let migrations: [(identifier: String, statements: [String])] = [
        (
            "v1",
            [
                """
                CREATE TABLE weights_file (
                    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                    path TEXT NOT NULL UNIQUE,
                    model_id TEXT NOT NULL,
                    sha256 TEXT NOT NULL,
                    bytes BIGINT NOT NULL,
                    created_at TIMESTAMP(3) NOT NULL)
                """,
                """
                CREATE TABLE dataset (
                    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                    root TEXT NOT NULL,
                    class_names TEXT NOT NULL,
                    content_hash TEXT NOT NULL,
                    created_at TIMESTAMP(3) NOT NULL,
                    UNIQUE (root, content_hash))
                """,
                """
                CREATE TABLE split (
                    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                    dataset_id BIGINT NOT NULL REFERENCES dataset(id) ON DELETE RESTRICT,
                    seed BIGINT NOT NULL,
                    val_fraction DOUBLE PRECISION NOT NULL,
                    file_list_hash TEXT NOT NULL,
                    split_path TEXT,
                    created_at TIMESTAMP(3) NOT NULL,
                    UNIQUE (dataset_id, seed, val_fraction, file_list_hash))
                """,
                """
                CREATE TABLE comparison (
                    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    config TEXT NOT NULL,
                    created_at TIMESTAMP(3) NOT NULL)
                """,
                """
                CREATE TABLE run (
                    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                    name TEXT,
                    model_id TEXT NOT NULL,
                    source_weights_id BIGINT REFERENCES weights_file(id) ON DELETE SET NULL,
                    source_weights TEXT,
                    dataset_id BIGINT REFERENCES dataset(id) ON DELETE RESTRICT,
                    split_id BIGINT REFERENCES split(id) ON DELETE RESTRICT,
                    optimizer TEXT NOT NULL,
                    optimizer_params TEXT NOT NULL,
                    schedule TEXT NOT NULL,
                    schedule_params TEXT NOT NULL,
                    freeze_spec TEXT NOT NULL,
                    bn_policy TEXT NOT NULL,
                    seed BIGINT NOT NULL,
                    batch_size BIGINT NOT NULL,
                    epochs_planned BIGINT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'finished', 'failed', 'interrupted')),
                    parent_run_id BIGINT REFERENCES run(id) ON DELETE SET NULL,
                    resumed_from_checkpoint_id BIGINT,
                    comparison_id BIGINT REFERENCES comparison(id) ON DELETE SET NULL,
                    error_message TEXT,
                    created_at TIMESTAMP(3) NOT NULL,
                    started_at TIMESTAMP(3),
                    finished_at TIMESTAMP(3))
                """,
                "CREATE INDEX run_on_optimizer ON run (optimizer)",
                "CREATE INDEX run_on_split ON run (split_id)",
                "CREATE INDEX run_on_comparison ON run (comparison_id)",
                "CREATE INDEX run_on_parent ON run (parent_run_id)",
                """
                CREATE TABLE epoch_metric (
                    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                    run_id BIGINT NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                    epoch BIGINT NOT NULL,
                    global_step BIGINT,
                    train_loss DOUBLE PRECISION,
                    train_acc DOUBLE PRECISION,
                    val_loss DOUBLE PRECISION,
                    val_acc DOUBLE PRECISION,
                    lr DOUBLE PRECISION,
                    seconds DOUBLE PRECISION,
                    UNIQUE (run_id, epoch))
                """,
                """
                CREATE TABLE checkpoint (
                    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                    run_id BIGINT NOT NULL REFERENCES run(id) ON DELETE RESTRICT,
                    epoch BIGINT NOT NULL,
                    global_step BIGINT NOT NULL,
                    lr DOUBLE PRECISION NOT NULL,
                    cycle_index BIGINT,
                    is_minimum BOOLEAN NOT NULL DEFAULT FALSE,
                    train_loss DOUBLE PRECISION,
                    train_acc DOUBLE PRECISION,
                    val_loss DOUBLE PRECISION,
                    val_acc DOUBLE PRECISION,
                    path TEXT NOT NULL UNIQUE,
                    bytes BIGINT NOT NULL,
                    sha256 TEXT NOT NULL,
                    has_optimizer_state BOOLEAN NOT NULL,
                    kind TEXT NOT NULL,
                    created_at TIMESTAMP(3) NOT NULL)
                """,
                "CREATE INDEX checkpoint_on_run ON checkpoint (run_id, epoch)",
                "CREATE INDEX checkpoint_on_run_minimum ON checkpoint (run_id, is_minimum)",
                "CREATE INDEX checkpoint_on_val_acc ON checkpoint (val_acc)",
                """
                CREATE TABLE lr_test (
                    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                    run_id BIGINT REFERENCES run(id) ON DELETE SET NULL,
                    model_id TEXT NOT NULL,
                    dataset_id BIGINT REFERENCES dataset(id) ON DELETE SET NULL,
                    split_id BIGINT REFERENCES split(id) ON DELETE SET NULL,
                    optimizer TEXT NOT NULL,
                    start_lr DOUBLE PRECISION NOT NULL,
                    end_lr DOUBLE PRECISION NOT NULL,
                    steps BIGINT NOT NULL,
                    config TEXT NOT NULL,
                    created_at TIMESTAMP(3) NOT NULL)
                """,
                """
                CREATE TABLE lr_test_point (
                    lr_test_id BIGINT NOT NULL REFERENCES lr_test(id) ON DELETE CASCADE,
                    step BIGINT NOT NULL,
                    lr DOUBLE PRECISION NOT NULL,
                    loss DOUBLE PRECISION NOT NULL,
                    smoothed_loss DOUBLE PRECISION,
                    PRIMARY KEY (lr_test_id, step))
                """,
                """
                CREATE TABLE lr_test_suggestion (
                    lr_test_id BIGINT NOT NULL REFERENCES lr_test(id) ON DELETE CASCADE,
                    method TEXT NOT NULL,
                    lr DOUBLE PRECISION NOT NULL,
                    loss DOUBLE PRECISION,
                    PRIMARY KEY (lr_test_id, method))
                """,
                """
                CREATE TABLE ensemble (
                    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                    run_id BIGINT REFERENCES run(id) ON DELETE SET NULL,
                    method TEXT NOT NULL,
                    member_checkpoint_ids TEXT NOT NULL,
                    accuracy DOUBLE PRECISION NOT NULL,
                    loss DOUBLE PRECISION,
                    best_single_accuracy DOUBLE PRECISION,
                    gain DOUBLE PRECISION,
                    evaluated_on TEXT NOT NULL,
                    samples BIGINT,
                    created_at TIMESTAMP(3) NOT NULL)
                """,
                "CREATE INDEX ensemble_on_run ON ensemble (run_id)",
                """
                CREATE TABLE ensemble_member (
                    ensemble_id BIGINT NOT NULL REFERENCES ensemble(id) ON DELETE CASCADE,
                    position BIGINT NOT NULL,
                    checkpoint_id BIGINT REFERENCES checkpoint(id) ON DELETE SET NULL,
                    accuracy DOUBLE PRECISION,
                    loss DOUBLE PRECISION,
                    ensemble_accuracy DOUBLE PRECISION,
                    selected BOOLEAN NOT NULL,
                    PRIMARY KEY (ensemble_id, position))
                """,
            ]
        ),
        (
            "v2-file-intent",
            [
                """
                CREATE TABLE file_intent (
                    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                    path TEXT NOT NULL,
                    action TEXT NOT NULL CHECK (action IN ('save', 'delete')),
                    pid BIGINT NOT NULL,
                    created_at TIMESTAMP(3) NOT NULL)
                """,
                "CREATE INDEX file_intent_on_path ON file_intent (path)",
            ]
        ),
        (
            "v3-run-owner",
            [
                "ALTER TABLE run ADD COLUMN host TEXT",
                "ALTER TABLE run ADD COLUMN pid BIGINT",
                "ALTER TABLE run ADD COLUMN heartbeat_at TIMESTAMP(3)",
            ]
        ),
        (
            "v4-ensemble-diversity",
            [
                "ALTER TABLE ensemble ADD COLUMN disagreement TEXT",
                "ALTER TABLE ensemble ADD COLUMN correlation TEXT",
            ]
        ),
        (
            "v5-run-comparison-cell",
            [
                "ALTER TABLE run ADD COLUMN comparison_cell BIGINT",
                "CREATE INDEX run_on_comparison_cell ON run (comparison_id, comparison_cell)",
            ]
        ),
        (
            "v6-evaluation",
            [
                """
                CREATE TABLE evaluation (
                    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                    run_id BIGINT REFERENCES run(id) ON DELETE SET NULL,
                    checkpoint_id BIGINT REFERENCES checkpoint(id) ON DELETE SET NULL,
                    ensemble_id BIGINT REFERENCES ensemble(id) ON DELETE SET NULL,
                    weights_path TEXT,
                    weights_sha256 TEXT,
                    model TEXT NOT NULL,
                    data_kind TEXT NOT NULL CHECK (data_kind IN ('validation', 'folder', 'fashion-mnist-test')),
                    data_path TEXT,
                    is_test BOOLEAN NOT NULL,
                    tta TEXT,
                    images BIGINT NOT NULL,
                    accuracy DOUBLE PRECISION NOT NULL,
                    top_k TEXT NOT NULL,
                    macro_f1 DOUBLE PRECISION NOT NULL,
                    log_loss DOUBLE PRECISION NOT NULL,
                    ece DOUBLE PRECISION NOT NULL,
                    seconds DOUBLE PRECISION NOT NULL,
                    metrics TEXT NOT NULL,
                    created_at TIMESTAMP(3) NOT NULL)
                """,
                "CREATE INDEX evaluation_on_run ON evaluation (run_id)",
                "CREATE INDEX evaluation_on_checkpoint ON evaluation (checkpoint_id)",
            ]
        ),
        (
            "v7-run-stopped-early",
            [
                "ALTER TABLE run DROP CONSTRAINT run_status_check",
                """
                ALTER TABLE run ADD CONSTRAINT run_status_check
                    CHECK (status IN ('queued', 'running', 'finished', 'failed', 'interrupted', 'stopped_early'))
                """,
                "ALTER TABLE run ADD COLUMN stop_reason TEXT",
            ]
        ),
        (
            "v8-epoch-ema-metrics",
            [
                "ALTER TABLE epoch_metric ADD COLUMN ema_val_loss DOUBLE PRECISION",
                "ALTER TABLE epoch_metric ADD COLUMN ema_val_acc DOUBLE PRECISION",
            ]
        ),
    ]
}
