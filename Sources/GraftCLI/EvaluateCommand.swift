import ArgumentParser
import Foundation
import Graft

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract:
            "Score a checkpoint or a weights file: accuracy, top-k, per-class F1, confusion, log loss, calibration.",
        discussion: """
            What is scored: a catalog checkpoint (ID, or --run R --best METRIC), a weights file (--weights, with \
            --model for its zoo card; an SWA model written by graft ensemble --output), a zoo model's own weights \
            (--model ID: a published model), or a catalog ensemble (--ensemble E: its members' probabilities or \
            logits averaged). On what: every image of an ImageFolder (--data DIR: a held-out test folder whose \
            class folders must be the model's classes), Fashion-MNIST's test set (--data fashion-mnist), or, by \
            default, the checkpoint's own validation split. Figures on a test folder are labelled as test figures: \
            nothing in Graft chooses with them.
            """)

    @Argument(help: "Checkpoint id (or --checkpoint, --run, --weights, --model).") var id: Int64?
    @OptionGroup var source: ModelSourceOptions
    @Option(help: "A catalog ensemble (a graft ensemble row, probs or logits): its members averaged as one model.")
    var ensemble: Int64?
    @Option(help: "An ImageFolder to score every image of, or 'fashion-mnist' for its test set.") var data: String?
    @Option(help: "Top-k accuracies to report, comma-separated.", transform: Self.parseKs) var topK: [Int] = [1, 5]
    @Option(help: TestTimeAugmentation.optionHelp)
    var tta: TestTimeAugmentation?
    @Option(help: "Images per batch.") var batch: Int = 64
    @Flag(help: "Score the checkpoint's weight EMA (a run trained with --ema) instead of its trained weights.")
    var ema = false
    @Flag(help: "No progress bar.") var quiet = false
    @Flag(help: "Do not record the evaluation in the catalog (graft evaluations lists those recorded).")
    var noRecord = false
    @Option(help: "Misclassified images with the highest loss kept, with thumbnails, in the recorded row.")
    var mistakes: Int = 16
    @OptionGroup var output: OutputOptions
    @OptionGroup var catalog: CatalogOptions

    static func parseKs(_ text: String) throws -> [Int] {
        try text.split(separator: ",").map {
            guard let k = Int($0.trimmingCharacters(in: .whitespaces)), k >= 1 else {
                throw ValidationError("top-k values are whole numbers of at least 1, got '\(text)'")
            }
            return k
        }
    }

    func validate() throws {
        if ensemble != nil {
            guard id == nil, !source.usesCatalog(positional: nil), source.weights == nil, source.model == nil else {
                throw ValidationError("--ensemble is scored alone: give no checkpoint, --run, --weights or --model")
            }
        } else {
            try source.requireOne(positional: id, choices: "a checkpoint id")
        }
        if ensemble == nil && !source.usesCatalog(positional: id) && data == nil {
            throw ValidationError("a weights file has no validation split: give --data DIR or --data fashion-mnist")
        }
        if ema && (ensemble != nil || !source.usesCatalog(positional: id)) {
            throw ValidationError("--ema scores a checkpoint's weight EMA: give a checkpoint id, or --run R")
        }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1, got \(batch)") }
        guard mistakes >= 0 else { throw ValidationError("--mistakes must be at least 0, got \(mistakes)") }
    }

    mutating func run() throws {
        let scored: ModelUnderEvaluation
        var db: Catalog?
        if let ensemble {
            let catalog = try catalog.openExisting()
            scored = try .ensemble(ensemble, in: catalog)
            db = catalog
        } else {
            switch try source.resolve(catalog: catalog, positional: id) {
            case .weights(let url, let card, _):
                scored = try .weights(url, card: card)
                // A weights file scored on a folder needs the catalog only to record the row (and creates it then).
                db = noRecord ? nil : try catalog.open()
            case .checkpoint(let checkpoint, let catalog):
                scored = try .checkpoint(checkpoint, in: catalog, ema: ema)
                db = catalog
            }
        }
        let evaluated: EvaluationData =
            switch data {
            case nil: .validationSplit
            case DataSpecification.fashionMNIST?: .fashionMNISTTest
            case let folder?: .folder(URL(fileURLWithPath: folder))
            }
        let source = try scored.batches(of: evaluated, splitDirectory: db?.splitsDirectory, batchSize: batch)
        let bar = quiet ? nil : ProgressBar(total: source.sampleCount, label: "evaluate")
        let started = Date()
        let classified = try Evaluation.classifyKeepingMistakes(
            scored.model, on: source, classNames: scored.classNames, topK: topK, augmentation: tta,
            mistakes: noRecord ? 0 : mistakes, onBatch: { bar?.update(step: $0) })
        bar?.finish()
        let metrics = classified.metrics
        let seconds = Date().timeIntervalSince(started)
        var recorded: Int64? = nil
        if let db, !noRecord {
            let details = try EvaluationDetails(metrics, mistakes: classified.mistakes, source: source)
            recorded = try db.recordEvaluation(
                try scored.evaluationRecord(
                    of: evaluated, metrics: metrics, details: details, augmentation: tta, seconds: seconds)
            ).id
        }
        let what =
            switch evaluated {
            case .validationSplit: "the run's validation split (it chose this checkpoint, so it flatters it)"
            case .folder(let url): "test folder \(url.path) (never used for a choice)"
            case .fashionMNISTTest: "Fashion-MNIST's test set (never used for a choice)"
            }
        printSections(
            MetricsTables.sections(
                metrics, model: scored.name, data: what, augmentation: tta, seconds: seconds, evaluationId: recorded),
            format: output.format)
    }
}

/// `graft evaluate`'s tables: a summary, per-class scores, the confusion matrix, reliability bins.
enum MetricsTables {
    static func sections(
        _ m: ClassificationMetrics, model: String, data: String, augmentation: TestTimeAugmentation?, seconds: Double,
        evaluationId: Int64? = nil
    ) -> [TableSection] {
        // The recorded row's id, for `graft evaluations` and `graft report --evaluation ID`.
        var summary: [(String, TextCell)] = []
        if let evaluationId { summary.append(("evaluation", .int(evaluationId))) }
        summary += [
            ("model", .text(model)), ("data", .text(data)), ("images", .int(Int64(m.count))),
            ("tta", .text(augmentation?.rawValue ?? "none")), ("seconds", .number(seconds, digits: 2)),
            ("accuracy", .number(m.accuracy, digits: 4)),
        ]
        summary += m.topK.filter { $0.k > 1 }.map { ("top\($0.k)_accuracy", .number($0.accuracy, digits: 4)) }
        summary += [
            ("macro_f1", .number(m.macroF1, digits: 4)), ("log_loss", .number(m.logLoss, digits: 4)),
            ("expected_calibration_error", .number(m.expectedCalibrationError, digits: 4)),
        ]
        let perClass = TextTable(
            columns: ["class", "precision", "recall", "f1", "support"],
            rows: m.perClass.map {
                [
                    .text($0.className), .number($0.precision, digits: 4), .number($0.recall, digits: 4),
                    .number($0.f1, digits: 4), .int(Int64($0.support)),
                ]
            }, rightAligned: ["precision", "recall", "f1", "support"])
        let confusion = TextTable(
            columns: ["true \\ predicted"] + m.classNames, keys: ["true_class"] + m.classNames,
            rows: zip(m.classNames, m.confusion).map { name, row in [.text(name)] + row.map { .int(Int64($0)) } },
            rightAligned: Set(m.classNames))
        let reliability = TextTable(
            columns: ["bin", "images", "confidence", "accuracy"], keys: ["bin", "images", "confidence", "accuracy"],
            rows: m.reliability.map {
                [
                    .text(String(format: "%.2f-%.2f", $0.lower, $0.upper)), .int(Int64($0.count)),
                    .optional($0.confidence, digits: 4), .optional($0.accuracy, digits: 4),
                ]
            }, rightAligned: ["images", "confidence", "accuracy"])
        return [
            TableSection(
                "Evaluation", key: "summary",
                TextTable(columns: ["field", "value"], rows: summary.map { [.text($0.0), $0.1] }), isRecord: true),
            TableSection("Per class", key: "per_class", perClass),
            TableSection("Confusion matrix (rows: true class)", key: "confusion", confusion),
            TableSection("Reliability (top probability)", key: "reliability", reliability),
        ]
    }
}
