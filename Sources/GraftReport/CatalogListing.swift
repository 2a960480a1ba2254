import Foundation
import GraftCatalog

/// Ready-made tables for the catalog's CLI listings, so output is testable without the CLI.
public enum CatalogListing {
    static func date(_ d: Date?) -> TextCell {
        guard let d else { return .null }
        let f = ISO8601DateFormatter()
        f.timeZone = TimeZone(identifier: "UTC")
        return .text(f.string(from: d))
    }

    /// `graft runs list`.
    public static func runs(_ runs: [RunRecord]) -> TextTable {
        TextTable(
            columns: [
                "id", "name", "model", "optimizer", "schedule", "freeze", "bn", "seed", "batch", "epochs",
                "status", "split", "comparison", "parent", "created",
            ],
            rows: runs.map { r in
                [
                    .optional(r.id), .optional(r.name), .text(r.modelId), .text(r.optimizer), .text(r.schedule),
                    .text(r.freezeSpec), .text(r.bnPolicy), .int(r.seed), .int(Int64(r.batchSize)),
                    .int(Int64(r.epochsPlanned)), .text(r.status.rawValue), .optional(r.splitId),
                    .optional(r.comparisonId), .optional(r.parentRunId), date(r.createdAt),
                ]
            },
            rightAligned: ["id", "seed", "batch", "epochs", "split", "comparison", "parent"])
    }

    /// `graft runs show`: one row per field.
    public static func runFields(_ r: RunRecord) -> TextTable {
        let fields: [(String, TextCell)] = [
            ("id", .optional(r.id)), ("name", .optional(r.name)), ("model", .text(r.modelId)),
            ("source_weights", .optional(r.sourceWeights)), ("dataset_id", .optional(r.datasetId)),
            ("split_id", .optional(r.splitId)), ("optimizer", .text(r.optimizer)),
            ("optimizer_params", .text(r.optimizerParams)), ("schedule", .text(r.schedule)),
            ("schedule_params", .text(r.scheduleParams)), ("freeze", .text(r.freezeSpec)),
            ("bn_policy", .text(r.bnPolicy)), ("seed", .int(r.seed)), ("batch_size", .int(Int64(r.batchSize))),
            ("epochs_planned", .int(Int64(r.epochsPlanned))), ("status", .text(r.status.rawValue)),
            ("parent_run_id", .optional(r.parentRunId)), ("comparison_id", .optional(r.comparisonId)),
            ("comparison_cell", .optional(r.comparisonCell.map(Int64.init))),
            ("error", .optional(r.errorMessage)), ("created_at", date(r.createdAt)),
            ("started_at", date(r.startedAt)), ("finished_at", date(r.finishedAt)),
            ("host", .optional(r.host)), ("pid", .optional(r.pid.map(Int64.init))),
            ("heartbeat_at", date(r.heartbeatAt)),
        ]
        return TextTable(columns: ["field", "value"], rows: fields.map { [.text($0.0), $0.1] })
    }

    /// Per-epoch metrics of a run, with the weight EMA's validation figures when it kept one.
    public static func epochs(_ metrics: [EpochMetricRecord]) -> TextTable {
        let ema = metrics.contains { $0.emaValLoss != nil || $0.emaValAcc != nil }
        let columns =
            ["epoch", "train_loss", "train_acc", "val_loss", "val_acc"] + (ema ? ["ema_val_loss", "ema_val_acc"] : [])
            + ["lr", "seconds"]
        return TextTable(
            columns: columns,
            rows: metrics.map { m in
                [
                    .int(Int64(m.epoch)), .optional(m.trainLoss, digits: 4), .optional(m.trainAcc, digits: 4),
                    .optional(m.valLoss, digits: 4), .optional(m.valAcc, digits: 4),
                ]
                    + (ema ? [.optional(m.emaValLoss, digits: 4), .optional(m.emaValAcc, digits: 4)] : [])
                    + [.optional(m.lr, digits: 6), .optional(m.seconds, digits: 1)]
            },
            rightAligned: Set(columns))
    }

    /// `graft ckpt list` and `graft ckpt best`.
    public static func checkpoints(_ infos: [CheckpointInfo]) -> TextTable {
        TextTable(
            columns: [
                "id", "run", "optimizer", "epoch", "step", "lr", "cycle", "minimum", "val_acc", "val_loss",
                "train_acc", "train_loss", "kind", "opt_state", "bytes", "path",
            ],
            rows: infos.map { i in
                let c = i.checkpoint
                return [
                    .optional(c.id), .int(c.runId), .text(i.optimizer), .int(Int64(c.epoch)), .int(c.globalStep),
                    .number(c.lr, digits: 6), .optional(c.cycleIndex), .text(c.isMinimum ? "yes" : "no"),
                    .optional(c.valAcc, digits: 4), .optional(c.valLoss, digits: 4),
                    .optional(c.trainAcc, digits: 4), .optional(c.trainLoss, digits: 4), .text(c.kind),
                    .text(c.hasOptimizerState ? "yes" : "no"), .int(c.bytes), .text(c.path),
                ]
            },
            rightAligned: [
                "id", "run", "epoch", "step", "lr", "cycle", "val_acc", "val_loss", "train_acc",
                "train_loss", "bytes",
            ])
    }

    /// `graft ckpt show`: one row per field.
    public static func checkpointFields(_ i: CheckpointInfo, resolvedPath: String) -> TextTable {
        let c = i.checkpoint
        let fields: [(String, TextCell)] = [
            ("id", .optional(c.id)), ("run_id", .int(c.runId)), ("optimizer", .text(i.optimizer)),
            ("model", .text(i.modelId)), ("epoch", .int(Int64(c.epoch))), ("global_step", .int(c.globalStep)),
            ("lr", .number(c.lr, digits: 8)), ("cycle_index", .optional(c.cycleIndex)),
            ("is_minimum", .text(c.isMinimum ? "yes" : "no")), ("train_loss", .optional(c.trainLoss, digits: 6)),
            ("train_acc", .optional(c.trainAcc, digits: 6)), ("val_loss", .optional(c.valLoss, digits: 6)),
            ("val_acc", .optional(c.valAcc, digits: 6)), ("kind", .text(c.kind)),
            ("has_optimizer_state", .text(c.hasOptimizerState ? "yes" : "no")), ("bytes", .int(c.bytes)),
            ("sha256", .text(c.sha256)), ("path", .text(c.path)), ("file", .text(resolvedPath)),
            ("created_at", date(c.createdAt)),
        ]
        return TextTable(columns: ["field", "value"], rows: fields.map { [.text($0.0), $0.1] })
    }

    /// `graft ckpt prune`: one row per checkpoint with its fate.
    public static func prunePlan(_ plan: PrunePlan) -> TextTable {
        let strippedIds = Set(plan.stripped.compactMap(\.id))
        var rows: [[TextCell]] = []
        for (c, reasons) in plan.kept {
            let action =
                strippedIds.contains(c.id!)
                ? (plan.dryRun ? "keep, strip optimizer" : "kept, stripped optimizer") : (plan.dryRun ? "keep" : "kept")
            rows.append([
                .optional(c.id), .int(Int64(c.epoch)), .optional(c.valAcc, digits: 4), .text(action),
                .text(reasons.joined(separator: " ")), .text(c.path),
            ])
        }
        for c in plan.deleted {
            rows.append([
                .optional(c.id), .int(Int64(c.epoch)), .optional(c.valAcc, digits: 4),
                .text(plan.dryRun ? "delete" : "deleted"), .null, .text(c.path),
            ])
        }
        rows.sort { a, b in
            if case .int(let x) = a[0], case .int(let y) = b[0] { return x < y }
            return false
        }
        return TextTable(
            columns: ["id", "epoch", "val_acc", "action", "kept_by", "path"], rows: rows,
            rightAligned: ["id", "epoch", "val_acc"])
    }

    /// `graft evaluations`: one row per recorded evaluation. `figures` says whether they are test
    /// figures (images kept from every choice) or validation figures.
    /// - Parameter evaluations: the rows, in the order to show.
    public static func evaluations(_ evaluations: [EvaluationRecord]) -> TextTable {
        TextTable(
            columns: [
                "id", "figures", "model", "run", "checkpoint", "data", "tta", "images", "accuracy", "top_k",
                "macro_f1", "log_loss", "ece", "seconds", "created",
            ],
            rows: evaluations.map { e in
                let data: String =
                    switch e.dataKind {
                    case .validation: "validation split"
                    case .folder: e.dataPath ?? "folder"
                    case .fashionMNISTTest: "fashion-mnist test"
                    }
                return [
                    .optional(e.id), .text(e.isTest ? "test" : "validation"), .text(e.model), .optional(e.runId),
                    .optional(e.checkpointId), .text(data), .text(e.tta ?? "none"), .int(Int64(e.images)),
                    .number(e.accuracy, digits: 4),
                    .text(
                        e.topK.filter { $0.k > 1 }.map { "top\($0.k)=\(String(format: "%.4f", $0.accuracy))" }
                            .joined(separator: " ")),
                    .number(e.macroF1, digits: 4), .number(e.logLoss, digits: 4), .number(e.ece, digits: 4),
                    .number(e.seconds, digits: 1), date(e.createdAt),
                ]
            },
            rightAligned: [
                "id", "run", "checkpoint", "images", "accuracy", "macro_f1", "log_loss", "ece", "seconds",
            ])
    }

    /// `graft catalog check`.
    public static func findings(_ findings: [CheckFinding]) -> TextTable {
        TextTable(
            columns: ["kind", "problem", "checkpoint", "path", "detail"],
            rows: findings.map { f in
                [
                    .text(f.kind.rawValue), .text(f.isProblem ? "yes" : "no"), .optional(f.checkpointId),
                    .text(f.path), .text(f.detail),
                ]
            },
            rightAligned: ["checkpoint"])
    }
}
