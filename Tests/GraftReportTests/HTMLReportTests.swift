import Foundation
import Testing

@testable import GraftReport

#if canImport(FoundationXML)
import FoundationXML
#endif

@Suite("HTMLReport")
struct HTMLReportTests {
    func sampleReport() -> HTMLReport {
        var report = HTMLReport(title: "Compare <runs> & \"friends\"", subtitle: "vanilla-cnn on Fashion-MNIST")
        report.summary = [KeyValue("Best optimizer", "Adam"), KeyValue("Best val acc", Format.percent(0.8312))]
        report.section("Accuracy") { s in
            s.paragraph("Mean of 3 runs; band = min–max. <script>alert(1)</script>")
            s.figure(
                LinePlot(
                    title: "Validation accuracy", xLabel: "epoch", yLabel: "accuracy",
                    series: [PlotSeries(name: "Adam", y: [0.5, 0.7])]),
                caption: "Accuracy per epoch")
        }
        report.section("Summary") { s in
            var table = ReportTable(
                header: ["optimizer", "final val acc", "best epoch", "lr", "time/epoch"],
                rows: [
                    ["Adam", .percent(0.8312), 7, .lr(1e-3), .duration(83)],
                    ["SGD+CLR", .percent(0.8401), 9, .lr(3e-3), .duration(61.2)],
                    ["Adadelta", .percent(.nan), 1, .lr(1), .duration(4.2)],
                ], caption: "Summary")
            table.emphasizeBest(column: 1)
            s.table(table)
            s.code("graft compare --model vanilla-cnn --data 'a&b'")
        }
        report.footer = "catalog: graft.sqlite"
        return report
    }

    @Test func pageIsWellFormedAndSelfContained() throws {
        let html = sampleReport().html()
        let xml = try ParsedXML(html)
        #expect(xml.document.rootElement()?.name == "html")
        #expect(try xml.elements("svg").count == 1)
        #expect(try xml.texts("figcaption") == ["Accuracy per epoch"])
        #expect(try xml.texts("h2") == ["Accuracy", "Summary"])
        #expect(try xml.elements("style").count == 1)
        // Nothing to fetch: no scripts, external stylesheets, images or URLs.
        #expect(try xml.elements("script").isEmpty)
        #expect(try xml.elements("link").isEmpty)
        #expect(try xml.elements("img").isEmpty)
        #expect(!html.contains("http://") || html.components(separatedBy: "http://").count - 1 == 1)  // only the SVG namespace
        #expect(!html.contains("https://"))
    }

    @Test func textIsEscaped() throws {
        let html = sampleReport().html()
        #expect(html.contains("<h1>Compare &lt;runs&gt; &amp; &quot;friends&quot;</h1>"))
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(!html.contains("<script>"))
        #expect(html.contains("--data &#39;a&amp;b&#39;"))
        let xml = try ParsedXML(html)
        #expect(try xml.texts("h1") == ["Compare <runs> & \"friends\""])
    }

    @Test func tableNumbersAreFormattedAlignedAndBestIsBold() throws {
        let xml = try ParsedXML(sampleReport().html())
        let rows = try xml.elements("tr").map { row in
            (row.children ?? []).compactMap { $0 as? XMLElement }.map { $0.stringValue ?? "" }
        }
        #expect(rows[0] == ["optimizer", "final val acc", "best epoch", "lr", "time/epoch"])
        #expect(rows[1] == ["Adam", "83.12%", "7", "1.0e-3", "1m 23s"])
        #expect(rows[2] == ["SGD+CLR", "84.01%", "9", "3.0e-3", "1m 01s"])
        #expect(rows[3] == ["Adadelta", "nan", "1", "1.0e0", "4.2s"])
        #expect(try xml.texts("strong") == ["84.01%"])
        let firstRowCells = try xml.elements("td").prefix(5).map { $0.string("class") }
        #expect(firstRowCells == [nil, "num", "num", "num", "num"])
    }

    @Test func writeCreatesDirectoriesAndReportsBadPaths() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("graft-report-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("sub/report.html")
        try sampleReport().write(to: url)
        #expect(try String(contentsOf: url, encoding: .utf8) == sampleReport().html())

        // A path below a regular file cannot be created.
        let bad = url.appendingPathComponent("x.html")
        #expect {
            try sampleReport().write(to: bad)
        } throws: { error in
            guard case let ReportError.writeFailed(path, _) = error else { return false }
            return path == bad.path && (error as? LocalizedError)?.errorDescription?.contains(bad.path) == true
        }
    }
}
