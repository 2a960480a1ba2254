import Foundation
import ArgumentParser
import GraftReport
import GraftStudy
import GraftTraining

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a self-contained HTML report with SVG plots for a comparison, a run or an evaluation.")

    @OptionGroup var catalog: CatalogOptions
    @Option(help: "Comparison id.") var compare: Int64?
    @Option(name: .customLong("run"), help: "Run id.") var runId: Int64?
    @Option(help: "Evaluation id (graft evaluations lists them).") var evaluation: Int64?
    @Option(help: "Where to write the HTML (default: out/report-….html).") var output: String?

    func validate() throws {
        if [compare, runId, evaluation].compactMap({ $0 }).count != 1 {
            throw ValidationError("give exactly one of --compare ID, --run ID and --evaluation ID")
        }
    }

    mutating func run() throws {
        let builder = ReportBuilder(catalog: try catalog.openExisting())
        let report: HTMLReport
        let defaultName: String
        if let compare {
            report = try builder.comparisonReport(id: compare)
            defaultName = "out/report-comparison-\(compare).html"
        } else if let runId {
            report = try builder.runReport(id: runId)
            defaultName = "out/report-run-\(runId).html"
        } else {
            report = try builder.evaluationReport(id: evaluation!)
            defaultName = "out/report-evaluation-\(evaluation!).html"
        }
        let url = URL(fileURLWithPath: output ?? defaultName)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try report.write(to: url)
        print("report: \(url.path)")
    }
}
