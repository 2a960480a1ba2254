import Foundation
import GraftCatalog
import GraftReport

/// Where each cell of a comparison stands, read from the catalog alone, so it can be asked from
/// any machine while the grid trains elsewhere (`graft compare --status`).
public struct ComparisonProgress: Sendable {
    /// A cell's state as a user should see it.
    public enum State: String, Sendable, CaseIterable {
        /// No run yet: its array task has not started.
        case queued
        case running
        /// Marked running, but its process is gone (`Catalog.effectiveStatus`); a requeued or
        /// restarted task continues it.
        case interrupted
        case done
        case failed
    }

    public struct Cell: Sendable {
        public var cell: ComparisonCell
        public var state: State
        public var runId: Int64?
        public var epochsDone: Int
        public var epochsPlanned: Int
        public var bestValidationAccuracy: Double?
    }

    public var comparisonId: Int64
    public var name: String
    public var cells: [Cell]

    /// Reads comparison `id`'s plan and each cell's run (the latest recorded for the cell).
    /// - Throws: `CatalogError.notFound`, `ComparisonError.notAPlan`.
    public init(comparisonId id: Int64, catalog: Catalog) throws {
        let plan = try ComparisonPlan.stored(comparisonId: id, in: catalog)
        let runs = try catalog.runs(filter: RunFilter(comparisonId: id))
        comparisonId = id
        name = plan.name
        cells = try plan.cells.map { cell in
            guard let run = runs.last(where: { plan.cell(of: $0) == cell }) else {
                return Cell(cell: cell, state: .queued, epochsDone: 0, epochsPlanned: plan.base.epochs)
            }
            let metrics = try catalog.epochMetrics(run: run.id!)
            return Cell(
                cell: cell, state: State(catalog.effectiveStatus(of: run)), runId: run.id,
                epochsDone: metrics.map(\.epoch).max() ?? 0, epochsPlanned: run.epochsPlanned,
                bestValidationAccuracy: metrics.compactMap(\.valAcc).max())
        }
    }

    /// True when every cell's run has finished.
    public var isDone: Bool { cells.allSatisfy { $0.state == .done } }

    /// One line: how many cells are in each state, e.g. `4 cells: 2 done, 1 running, 1 queued`.
    public var summary: String {
        let counts = State.allCases.compactMap { state -> String? in
            let n = cells.filter { $0.state == state }.count
            return n == 0 ? nil : "\(n) \(state.rawValue)"
        }
        return "comparison \(comparisonId) '\(name)', \(cells.count) cells: \(counts.joined(separator: ", "))"
    }

    /// One row per cell.
    public var table: TextTable {
        TextTable(
            columns: ["cell", "optimizer", "run", "state", "run_id", "epochs", "planned", "best_val_acc"],
            rows: cells.map { c in
                [
                    .int(Int64(c.cell.index)), .text(c.cell.entry.description), .int(Int64(c.cell.run + 1)),
                    .text(c.state.rawValue), .optional(c.runId), .int(Int64(c.epochsDone)),
                    .int(Int64(c.epochsPlanned)), .optional(c.bestValidationAccuracy, digits: 4),
                ]
            },
            rightAligned: ["cell", "run", "run_id", "epochs", "planned", "best_val_acc"])
    }
}

extension ComparisonProgress.State {
    init(_ status: RunStatus) {
        switch status {
        case .queued: self = .queued
        case .running: self = .running
        case .interrupted: self = .interrupted
        case .finished, .stoppedEarly: self = .done
        case .failed: self = .failed
        }
    }
}
