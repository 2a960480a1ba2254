import GRDB

extension Catalog {
    /// The schema's history. A migration is never edited once released: schema changes are new
    /// migrations appended at the end. A catalog holding a migration this list lacks was
    /// written by a newer Graft and is refused (see `CatalogError.newerSchema`).
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
        return migrator
    }
}
