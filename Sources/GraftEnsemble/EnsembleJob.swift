import Foundation
import GraftCatalog
import GraftData
import GraftReport
import GraftTensor
import GraftTraining
import GraftWeights

/// The images an ensemble is evaluated on.
public enum EvaluationSplit: String, Sendable, CaseIterable, Codable {
    /// The run's validation split: what the advisor chooses on.
    case val
    /// Fashion-MNIST's test set, held out: its figures never feed a choice.
    case test
}

/// `graft ensemble` as a library call: members from the catalog (or files), data from the run's
/// own configuration, evaluation, catalog rows, table and plot.
public struct EnsembleJob {
    /// The run whose checkpoints form the ensemble.
    public var run: Int64?
    /// Only checkpoints taken at a schedule minimum (snapshot-ensemble members).
    public var minimaOnly = false
    /// Explicit members: catalog checkpoint ids, or paths of weights/checkpoint files.
    public var checkpoints: [String] = []
    /// Keep only the last M members (in checkpoint order).
    public var last: Int?
    /// How the members are combined; each gives one outcome.
    public var methods: [EnsembleMethod] = [.probs]
    /// Also select members greedily for each prediction method.
    public var greedy = false
    /// Another ImageFolder directory (or `fashion-mnist`) instead of the run's own data.
    public var dataSource: String?
    /// The images the ensemble is evaluated on.
    public var split = EvaluationSplit.val
    /// Test-time augmentation of every member and of the SWA model (`EnsembleEvaluator`); the
    /// advisor then weighs it on validation against its measured cost.
    public var augmentation: TestTimeAugmentation?
    /// Progress lines and warnings; nil is silent.
    public var log: ((String) -> Void)?

    /// A job with no members yet: set `run` or `checkpoints`.
    public init() {}

    /// What the job produced.
    public struct Result {
        /// Each member and each outcome on `split`.
        public var evaluation: EnsembleEvaluation
        /// Catalog ids of the stored ensemble rows, one per outcome.
        public var ensembleIds: [Int64]
        /// The SWA model, when `.swa` was evaluated.
        public var averagedModel: (state: StateDict, attributes: WeightsAttributes)?
        /// The same members on the validation split, when `evaluation` is on test: what the
        /// advisor chose with.
        public var validationEvaluation: EnsembleEvaluation?
        /// Best single checkpoint, SWA or ensemble, chosen on validation.
        public var advice: EnsembleAdvice
        /// Members that are poor snapshot-ensemble members (not taken at a learning-rate minimum).
        public var warnings: [String]
    }

    /// Resolves members, evaluates them and stores one `ensemble` row per outcome.
    /// - Throws: `EnsembleError`, `CatalogError` (missing file, checksum mismatch), data errors.
    public func execute(catalog: Catalog) throws -> Result {
        let members = try resolveMembers(catalog: catalog)
        let warnings = try Self.snapshotWarnings(members, catalog: catalog)
        for warning in warnings { log?("warning: \(warning)") }
        let (evaluated, training) = try dataSources(for: members, catalog: catalog)
        let evaluator = EnsembleEvaluator(
            members: members, methods: methods, greedy: greedy, augmentation: augmentation)
        evaluator.log = log
        let evaluation = try evaluator.evaluate(
            validation: evaluated, training: methods.contains(.swa) ? training : nil)
        // The advisor chooses on validation: on a test run the members are evaluated there too.
        var validationEvaluation: EnsembleEvaluation?
        if split != .val {
            var onValidation = self
            onValidation.split = .val
            let (validation, _) = try onValidation.dataSources(for: members, catalog: catalog)
            let chooser = EnsembleEvaluator(
                members: members, methods: methods, greedy: false, augmentation: augmentation)
            chooser.log = log.map { log in { log("validation: " + $0) } }
            validationEvaluation = try chooser.evaluate(
                validation: validation, training: methods.contains(.swa) ? training : nil)
        }
        let advice = EnsembleAdvice.advise(
            validation: validationEvaluation ?? evaluation,
            test: validationEvaluation == nil ? nil : evaluation)
        let runId = run ?? Self.commonRun(members, catalog: catalog)
        let ids = try Self.save(evaluation, to: catalog, runId: runId, evaluatedOn: split.rawValue)
        return Result(
            evaluation: evaluation, ensembleIds: ids, averagedModel: evaluator.averagedModel,
            validationEvaluation: validationEvaluation, advice: advice, warnings: warnings)
    }

    /// The rows and columns of `indices`, in that order.
    static func submatrix(_ matrix: [[Double]], _ indices: [Int]) -> [[Double]] {
        indices.map { i in indices.map { j in matrix[i][j] } }
    }

    /// Snapshot ensembles gather checkpoints from the ends of learning-rate cycles, where each
    /// member has settled; a checkpoint saved elsewhere (just after a restart, or by the "best"
    /// or "periodic" rule) is likely a weaker, less settled member.
    static func snapshotWarnings(_ members: [EnsembleMember], catalog: Catalog) throws -> [String] {
        var warnings: [String] = []
        for member in members {
            guard let id = member.checkpointId else { continue }
            let record = try catalog.checkpoint(id: id)
            guard !record.isMinimum else { continue }
            let why = record.reasons.map(\.rawValue).sorted().joined(separator: ", ")
            warnings.append(
                "\(member.name) (run \(record.runId), epoch \(record.epoch), lr \(Format.lr(record.lr))) was not taken at a "
                    + "learning-rate minimum (saved as: \(why.isEmpty ? "unknown" : why)); snapshot members belong at the minima checkpoints of cycle ends"
            )
        }
        return warnings
    }

    /// The members in checkpoint order (run, epoch, step), files verified against the catalog.
    /// - Throws: `EnsembleError.noMembers` when nothing matches; `CatalogError` for a missing or
    ///   altered file.
    public func resolveMembers(catalog: Catalog) throws -> [EnsembleMember] {
        var records: [CheckpointRecord] = []
        var files: [EnsembleMember] = []
        if !checkpoints.isEmpty {
            for item in checkpoints {
                if let id = Int64(item) {
                    let record = try catalog.checkpoint(id: id)
                    if let run, record.runId != run { throw EnsembleError.unknownCheckpoint(run: run, id: id) }
                    records.append(record)
                } else {
                    let url = URL(fileURLWithPath: item)
                    guard FileManager.default.fileExists(atPath: url.path) else {
                        throw EnsembleError.noMembers("no checkpoint id or file '\(item)'")
                    }
                    files.append(EnsembleMember(name: url.lastPathComponent, url: url))
                }
            }
            if minimaOnly { records = records.filter(\.isMinimum) }
        } else if let run {
            records = try catalog.checkpoints(filter: CheckpointFilter(run: run, minimaOnly: minimaOnly)).map(
                \.checkpoint)
        } else {
            throw EnsembleError.noMemberSource
        }
        var members =
            try records.map { r in
                EnsembleMember(
                    name: "ckpt \(r.id!)", checkpointId: r.id, url: try catalog.verifiedFile(for: r),
                    epoch: r.epoch, cycleIndex: r.cycleIndex)
            } + files
        if let last, last > 0, members.count > last { members = Array(members.suffix(last)) }
        guard !members.isEmpty else { throw EnsembleError.runHasNoMembers(run: run, minimaOnly: minimaOnly) }
        return members
    }

    /// Validation and training batch sources: the first member's run configuration (its data
    /// split, image size, normalisation and class subset), with `dataSource` replacing the
    /// images when given. A plain weights file carries no configuration: then `dataSource` is
    /// required and the file's input size and normalisation are used. ImageFolder splits are
    /// read from the catalog's `splits/` folder, where training wrote them.
    public func dataSources(
        for members: [EnsembleMember], catalog: Catalog?
    ) throws -> (validation: BatchSource, training: BatchSource) {
        let first = members[0].url
        let attributes = try WeightsFile.read(first).attributes
        let configuration = try? TrainingCheckpoint.read(first).runConfiguration
        var spec: DataSpecification
        if let configuration {
            spec = configuration.data
            if let dataSource { spec.source = dataSource }
        } else {
            guard let dataSource else {
                throw EnsembleError.needsData(path: first.path)
            }
            spec = DataSpecification(source: dataSource, imageSize: attributes.inputSize.last ?? 224)
        }
        if spec.mean == nil, attributes.mean.count == 3 { spec.mean = attributes.mean.map(Float.init) }
        if spec.std == nil, attributes.std.count == 3 { spec.std = attributes.std.map(Float.init) }
        let batchSize = configuration?.batchSize ?? 64
        let sources = try DataSources.make(
            spec, batchSize: batchSize, seed: configuration?.seed ?? 0,
            splitDirectory: catalog?.splitsDirectory)
        switch split {
        case .val:
            return (sources.validation, sources.train)
        case .test where spec.source == DataSpecification.fashionMNIST:
            return (try DataSources.fashionMNISTTest(spec, batchSize: max(batchSize, 64)), sources.train)
        case .test:
            throw EnsembleError.unsupportedSplit(split.rawValue, source: spec.source)
        }
    }

    /// The run all catalog members belong to, if there is exactly one.
    static func commonRun(_ members: [EnsembleMember], catalog: Catalog) -> Int64? {
        let runs = Set(members.compactMap { m in m.checkpointId.flatMap { try? catalog.checkpoint(id: $0).runId } })
        return runs.count == 1 ? runs.first : nil
    }

    /// Stores one `ensemble` row per outcome with its `ensemble_member` rows (its method
    /// `probs+tta(flip)` and so on under test-time augmentation): for methods in
    /// checkpoint order, every member with the ensemble's accuracy once it was added; for a
    /// greedy selection, the chosen members in the order they were added, then the others
    /// (`selected` false). Returns the new ensemble ids.
    @discardableResult
    public static func save(
        _ evaluation: EnsembleEvaluation, to catalog: Catalog, runId: Int64?,
        evaluatedOn: String
    ) throws -> [Int64] {
        var ids: [Int64] = []
        for outcome in evaluation.outcomes {
            let rest = evaluation.members.indices.filter { !outcome.selected.contains($0) }
            var rows: [EnsembleMemberRecord] = []
            for (position, index) in (outcome.selected + rest).enumerated() {
                let m = evaluation.members[index]
                let isSelected = position < outcome.selected.count
                var size: Double?
                if isSelected {
                    if outcome.method == .swa {
                        size = position == outcome.selected.count - 1 ? outcome.accuracy : nil
                    } else if position < outcome.accuracyBySize.count {
                        size = outcome.accuracyBySize[position]
                    }
                }
                rows.append(
                    EnsembleMemberRecord(
                        position: position, checkpointId: m.member.checkpointId,
                        accuracy: m.accuracy, loss: m.loss.isFinite ? m.loss : nil,
                        ensembleAccuracy: size, selected: isSelected))
            }
            let record = EnsembleRecord(
                runId: runId,
                method: outcome.label + (evaluation.testTimeAugmentation.map { "+tta(\($0.augmentation))" } ?? ""),
                memberCheckpointIds: outcome.selected.compactMap { evaluation.members[$0].member.checkpointId },
                accuracy: outcome.accuracy, loss: outcome.loss, bestSingleAccuracy: outcome.bestSingleAccuracy,
                gain: outcome.gain, evaluatedOn: evaluatedOn, samples: evaluation.samples,
                disagreement: Self.submatrix(evaluation.diversity.disagreement, outcome.selected),
                correlation: Self.submatrix(evaluation.diversity.correlation, outcome.selected))
            ids.append(try catalog.saveEnsemble(record, members: rows).ensemble.id!)
        }
        return ids
    }

    /// Accuracy against ensemble size: one line per prediction method with members added in
    /// checkpoint order, dashed lines for greedy selections, the best single member as a
    /// horizontal line and SWA as a point at the full size.
    public static func plot(_ evaluation: EnsembleEvaluation) -> LinePlot {
        var plot = LinePlot(
            title: "Ensemble accuracy against size (\(evaluation.samples) validation images)",
            xLabel: "members", yLabel: "accuracy")
        plot.yPercent = true
        for outcome in evaluation.outcomes {
            let y = outcome.accuracyBySize
            if outcome.method == .swa {
                plot.markers.append(
                    .point(
                        x: Double(outcome.selected.count), y: outcome.accuracy,
                        label: "SWA \(Format.percent(outcome.accuracy))"))
            } else {
                let name =
                    outcome.greedy
                    ? "\(outcome.method.rawValue), greedy order" : "\(outcome.method.rawValue), checkpoint order"
                plot.series.append(
                    PlotSeries(
                        name: name, x: y.indices.map { Double($0 + 1) }, y: y, showPoints: true,
                        dashed: outcome.greedy))
            }
        }
        let best = evaluation.members[evaluation.bestMember]
        plot.markers.append(
            .horizontal(y: best.accuracy, label: "best single (\(best.member.name)) \(Format.percent(best.accuracy))"))
        return plot
    }

    /// Two tables: every member on its own, and every ensemble with its gain. Under test-time
    /// augmentation the accuracies are with it, and a column `no tta` gives them without.
    public static func tables(_ evaluation: EnsembleEvaluation, ensembleIds: [Int64] = []) -> [TableSection] {
        let tta = evaluation.testTimeAugmentation
        let plainColumn = tta == nil ? [] : ["no tta"]
        let members = TextTable(
            columns: ["#", "member", "checkpoint", "epoch", "cycle", "accuracy"] + plainColumn + ["loss", "best"],
            keys: ["index", "member", "checkpoint", "epoch", "cycle", "accuracy"]
                + (tta == nil ? [] : ["accuracy_without_tta"]) + ["loss", "best"],
            rows: evaluation.members.enumerated().map { i, m in
                var row: [TextCell] = [
                    .int(Int64(i + 1)), .text(m.member.name), .optional(m.member.checkpointId),
                    .optional(m.member.epoch),
                    .optional(m.member.cycleIndex), .number(m.accuracy, digits: 4),
                ]
                if let tta { row.append(.number(tta.memberAccuracy[i], digits: 4)) }
                row += [
                    m.loss.isFinite ? .number(m.loss, digits: 4) : .null, .text(i == evaluation.bestMember ? "*" : ""),
                ]
                return row
            },
            rightAligned: ["#", "checkpoint", "epoch", "cycle", "accuracy", "no tta", "loss"])
        let ensembles = TextTable(
            columns: ["id", "method", "members", "accuracy"] + plainColumn + ["loss", "best single", "gain"],
            keys: ["id", "method", "members", "accuracy"] + (tta == nil ? [] : ["accuracy_without_tta"])
                + ["loss", "best_single", "gain"],
            rows: evaluation.outcomes.enumerated().map { i, o in
                var row: [TextCell] = [
                    i < ensembleIds.count ? .int(ensembleIds[i]) : .null, .text(o.label),
                    .text(o.selected.map { String($0 + 1) }.joined(separator: ",")), .number(o.accuracy, digits: 4),
                ]
                if let tta { row.append(.number(tta.outcomeAccuracy[i], digits: 4)) }
                row += [
                    .optional(o.loss, digits: 4), .number(o.bestSingleAccuracy, digits: 4), .number(o.gain, digits: 4),
                ]
                return row
            },
            rightAligned: ["id", "accuracy", "no tta", "loss", "best single", "gain"])
        return [TableSection("members", members), TableSection("ensembles", ensembles)]
            + diversityTables(evaluation.diversity, names: evaluation.members.map(\.member.name))
    }

    /// The diversity matrices, one row per member.
    public static func diversityTables(_ diversity: EnsembleDiversity, names: [String]) -> [TableSection] {
        func matrix(_ values: [[Double]]) -> TextTable {
            TextTable(
                columns: ["member"] + names,
                rows: values.enumerated().map { i, row in [.text(names[i])] + row.map { .number($0, digits: 3) } },
                rightAligned: Set(names))
        }
        return [
            TableSection(
                "disagreement (fraction of samples whose predicted class differs)", key: "disagreement",
                matrix(diversity.disagreement)),
            TableSection("correlation of predicted probabilities", key: "correlation", matrix(diversity.correlation)),
        ]
    }

    /// The advisor's candidates and choice, with each candidate's relative inference cost.
    /// - Parameter advice: the advisor's answer.
    public static func adviceTable(_ advice: EnsembleAdvice) -> TableSection {
        TableSection(
            "advice (chosen on validation)", key: "advice",
            TextTable(
                columns: ["candidate", "kind", "tta", "cost", "validation", "test", "chosen"],
                rows: advice.candidates.map { c in
                    [
                        .text(c.label), .text(c.kind.rawValue), .text(c.augmentation?.description ?? "none"),
                        .number(c.cost, digits: 1), .number(c.validationAccuracy, digits: 4),
                        .optional(c.testAccuracy, digits: 4), .text(c == advice.choice ? "*" : ""),
                    ]
                },
                rightAligned: ["cost", "validation", "test"]))
    }

    /// What test-time augmentation gains on validation for each candidate, and what it costs;
    /// nil without augmentation.
    /// - Parameter advice: the advisor's answer for an evaluation with test-time augmentation.
    public static func augmentationTable(_ advice: EnsembleAdvice) -> TableSection? {
        guard let tta = advice.testTimeAugmentation else { return nil }
        return TableSection(
            "test-time augmentation \(tta.augmentation) (validation; \(String(format: "%.1f", tta.costFactor))× the inference time)",
            key: "tta",
            TextTable(
                columns: ["candidate", "kind", "no tta", "tta", "gain (points)"],
                keys: ["candidate", "kind", "without", "with", "points"],
                rows: tta.gains.map { g in
                    [
                        .text(g.label), .text(g.kind.rawValue), .number(g.without, digits: 4),
                        .number(g.with, digits: 4), .number(g.points, digits: 2),
                    ]
                },
                rightAligned: ["no tta", "tta", "gain (points)"]))
    }
}
