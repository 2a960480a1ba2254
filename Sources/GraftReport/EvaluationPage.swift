import Foundation
import GraftCatalog

/// The HTML page of one recorded evaluation (`graft report --evaluation ID`, and a section of its
/// run's report): the figures, the confusion matrix as a heatmap, per-class precision, recall and
/// F1, the reliability diagram, and the most confident mistakes. Test figures are labelled as
/// test figures, never used for a choice; validation figures as those of the split that chose
/// the checkpoint.
public enum EvaluationPage {
    /// What kind of figures these are, in words, for a page or a listing.
    /// - Parameter evaluation: the evaluation.
    public static func role(_ evaluation: EvaluationRecord) -> String {
        evaluation.isTest
            ? "Test figures: these images were kept from every choice, and these numbers are never used for a choice."
            : "Validation figures: the split that chose this checkpoint, so they flatter it."
    }

    /// The headline figures as key–value cards.
    /// - Parameter e: the evaluation.
    public static func summary(_ e: EvaluationRecord) -> [KeyValue] {
        var pairs = [
            KeyValue("figures", e.isTest ? "test" : "validation"), KeyValue("images", String(e.images)),
            KeyValue("accuracy", String(format: "%.2f%%", 100 * e.accuracy)),
        ]
        pairs += e.topK.filter { $0.k > 1 }.map { KeyValue("top-\($0.k)", String(format: "%.2f%%", 100 * $0.accuracy)) }
        pairs += [
            KeyValue("macro F1", String(format: "%.4f", e.macroF1)),
            KeyValue("log loss", String(format: "%.4f", e.logLoss)),
            KeyValue("ECE", String(format: "%.4f", e.ece)),
        ]
        return pairs
    }

    /// The page's sections; `prefix` starts each heading (a run's report names the evaluation).
    /// - Parameters:
    ///   - e: the evaluation.
    ///   - prefix: text put before each heading.
    public static func sections(_ e: EvaluationRecord, prefix: String = "") -> [ReportSection] {
        let d = e.details
        let label = e.isTest ? "test" : "validation"
        var sections: [ReportSection] = []
        var about = ReportSection(heading: prefix + "Evaluation (\(label) figures)")
        about.paragraph(role(e))
        var facts = [
            KeyValue("evaluation", e.id.map(String.init) ?? "-"), KeyValue("model", e.model),
            KeyValue("data", e.dataDescription), KeyValue("test-time augmentation", e.tta ?? "none"),
        ]
        if let path = e.weightsPath { facts.append(KeyValue("weights file", path)) }
        if let sha = e.weightsSha256 { facts.append(KeyValue("weights SHA-256", sha)) }
        facts += summary(e)
        facts += [KeyValue("seconds", String(format: "%.1f", e.seconds)), KeyValue("recorded", iso(e.createdAt))]
        about.keyValues(facts)
        sections.append(about)

        var confusion = ReportSection(heading: prefix + "Confusion matrix (\(label))")
        confusion.figure(
            svg: EvaluationFigures.confusionHeatmap(d.confusion, classNames: d.classNames, title: ""),
            caption:
                "Rows: true class; columns: predicted class. Each cell holds its count, coloured by its share of the row."
        )
        sections.append(confusion)

        var perClass = ReportSection(heading: prefix + "Per-class precision, recall and F1 (\(label))")
        perClass.figure(svg: EvaluationFigures.perClassBars(d.perClass, title: ""), caption: "Per class, on a 0–1 axis")
        var table = ReportTable(header: ["class", "precision", "recall", "F1", "support"])
        table.rows = d.perClass.map {
            [
                .text($0.className), .fixed($0.precision, digits: 4), .fixed($0.recall, digits: 4),
                .fixed($0.f1, digits: 4), .integer($0.support),
            ]
        }
        perClass.table(table)
        sections.append(perClass)

        var calibration = ReportSection(heading: prefix + "Calibration (\(label))")
        calibration.figure(
            svg: EvaluationFigures.reliabilityDiagram(d.reliability, title: ""),
            caption: String(
                format:
                    "Reliability diagram: accuracy against confidence per bin, with the diagonal; expected calibration error %.4f",
                e.ece))
        sections.append(calibration)

        var mistakes = ReportSection(heading: prefix + "Most confident mistakes (\(label))")
        if d.mistakes.isEmpty {
            mistakes.paragraph("No misclassified image was kept.")
        } else {
            mistakes.paragraph(
                "The \(d.mistakes.count) misclassified images with the highest loss: what they are, what the model said, and how sure it was."
            )
            mistakes.figure(svg: EvaluationFigures.mistakeGrid(d.mistakes, classNames: d.classNames))
        }
        sections.append(mistakes)
        return sections
    }

    /// The whole page of one evaluation.
    /// - Parameter e: the evaluation.
    public static func report(_ e: EvaluationRecord) -> HTMLReport {
        var report = HTMLReport(
            title: "Evaluation \(e.id.map(String.init) ?? ""): \(e.model)",
            subtitle:
                "\(e.dataDescription) · \(e.isTest ? "test figures, never used for a choice" : "validation figures")")
        report.summary = summary(e)
        report.sections = sections(e)
        return report
    }

    /// The run report's table of its evaluations.
    /// - Parameter evaluations: the run's evaluations.
    public static func table(_ evaluations: [EvaluationRecord]) -> ReportTable {
        var table = ReportTable(header: [
            "id", "figures", "model", "data", "tta", "images", "accuracy", "macro F1", "log loss", "ECE",
        ])
        table.rows = evaluations.map { e in
            [
                .integer(Int(e.id ?? 0)), .text(e.isTest ? "test" : "validation"), .text(e.model),
                .text(e.dataDescription),
                .text(e.tta ?? "none"), .integer(e.images), .percent(e.accuracy), .fixed(e.macroF1, digits: 4),
                .fixed(e.logLoss, digits: 4), .fixed(e.ece, digits: 4),
            ]
        }
        return table
    }

    private static func iso(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: date)
    }
}
