import Foundation
import GraftCatalog
import Testing

@testable import GraftReport

/// An evaluation's page: its four figures carry the recorded numbers, test figures are labelled
/// as such, and nothing is fetched from elsewhere.
struct EvaluationPageTests {
    static let classes = ["cat", "dog", "bird"]
    static let confusion = [[7, 2, 1], [0, 9, 1], [3, 0, 5]]

    static func evaluation(isTest: Bool = true, mistakes: Int = 3) -> EvaluationRecord {
        // A 1 × 1 gray JPEG, as thumbnails are stored.
        let jpeg =
            "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/wAALCAABAAEBAREA/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/9oACAEBAAA/APn+v//Z"
        return EvaluationRecord(
            id: 42, runId: 3, checkpointId: 12, model: "checkpoint 12 (run 3, epoch 8)",
            dataKind: isTest ? .folder : .validation, dataPath: isTest ? "/data/pets-test" : nil, isTest: isTest,
            images: 28, accuracy: 21.0 / 28, topK: [.init(k: 1, accuracy: 0.75), .init(k: 2, accuracy: 0.9)],
            macroF1: 0.7368, logLoss: 0.6931, ece: 0.0875, seconds: 2.5,
            details: EvaluationDetails(
                classNames: classes,
                perClass: [
                    .init(className: "cat", precision: 0.7, recall: 0.7, f1: 0.7, support: 10),
                    .init(className: "dog", precision: 9.0 / 11, recall: 0.9, f1: 0.8571, support: 10),
                    .init(className: "bird", precision: 5.0 / 7, recall: 0.625, f1: 0.6667, support: 8),
                ],
                confusion: confusion,
                reliability: [
                    .init(lower: 0, upper: 0.5, count: 4, confidence: 0.45, accuracy: 0.25),
                    .init(lower: 0.5, upper: 1, count: 24, confidence: 0.8, accuracy: 0.8333),
                ],
                mistakes: (0..<mistakes).map {
                    .init(
                        sample: "cat/img_\($0).jpg", index: $0, trueClass: 0, predictedClass: 1,
                        probability: 0.9 - 0.1 * Double($0), loss: 3 - Double($0), thumbnailJPEG: jpeg)
                }),
            createdAt: Date(timeIntervalSince1970: 1_700_000_000))
    }

    @Test func thePageHasTheFourFiguresWithTheRecordedNumbers() throws {
        let e = Self.evaluation()
        let report = EvaluationPage.report(e)
        let headings = report.sections.map(\.heading)
        #expect(
            headings == [
                "Evaluation (test figures)", "Confusion matrix (test)", "Per-class precision, recall and F1 (test)",
                "Calibration (test)", "Most confident mistakes (test)",
            ])
        let html = report.html()
        #expect(html.contains("never used for a choice"))
        #expect(html.contains("75.00%") && html.contains("top-2") && html.contains("90.00%"))
        // Self-contained: no address other than SVG's namespace, no script.
        let stripped = html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "")
        #expect(!stripped.contains("http:") && !stripped.contains("https:") && !stripped.contains("<script"))

        // The confusion matrix: one cell a count, in row order, coloured by its share of the row.
        let heatmap = try ParsedXML(
            EvaluationFigures.confusionHeatmap(e.details.confusion, classNames: Self.classes, title: ""))
        let cells = try heatmap.elements("rect").filter { ($0.children ?? []).contains { $0.name == "title" } }
        #expect(cells.count == 9)
        let counts = try heatmap.texts("text").prefix(9).map { Int($0) }
        #expect(counts == Self.confusion.flatMap { $0 }.map { Optional($0) })
        #expect(cells[4].string("fill") == EvaluationFigures.heatColor(0.9), "dog's 9 of 10")
        #expect(cells[6].string("fill") == EvaluationFigures.heatColor(3.0 / 8), "bird predicted cat: 3 of 8")
        #expect(html.contains("true dog, predicted dog: 9"))

        // Per-class bars: three a class, heights in proportion to the scores.
        let bars = try ParsedXML(EvaluationFigures.perClassBars(e.details.perClass, title: ""))
        let scored = try bars.elements("rect").filter { ($0.children ?? []).contains { $0.name == "title" } }
        #expect(scored.count == 9)
        let heights = scored.compactMap { $0.double("height") }
        #expect(
            abs(heights[0] - 240 * 0.7) < 0.1 && abs(heights[4] - 240 * 0.9) < 0.1
                && abs(heights[7] - 240 * 0.625) < 0.1)
        #expect(try bars.texts("title").contains("bird recall: 0.6250"))

        // Reliability: the two filled bins with their accuracy and count, and the diagonal.
        let diagram = try ParsedXML(EvaluationFigures.reliabilityDiagram(e.details.reliability, title: ""))
        let binTitles = try diagram.texts("title")
        #expect(
            binTitles == [
                "0.00–0.50: 4 images, accuracy 0.2500, confidence 0.4500",
                "0.50–1.00: 24 images, accuracy 0.8333, confidence 0.8000",
            ])
        #expect(
            try diagram.elements("line").contains {
                $0.string("stroke-dasharray") != nil && $0.double("y2")! < $0.double("y1")!
            })
        #expect(try diagram.texts("text").contains("24") && diagram.texts("text").contains("4"))
        #expect(try diagram.elements("circle").count == 3, "a dot per filled bin, and the legend's")

        // The mistakes: a thumbnail each, with what it was, what was said and how sure.
        let grid = try ParsedXML(EvaluationFigures.mistakeGrid(e.details.mistakes, classNames: Self.classes))
        let images = try grid.elements("image")
        #expect(images.count == 3)
        #expect(images.allSatisfy { ($0.string("href") ?? "").hasPrefix("data:image/jpeg;base64,/9j/") })
        let words = try grid.texts("text")
        #expect(
            words.contains("true: cat") && words.contains("said: dog") && words.contains("probability 90.0%")
                && words.contains("probability 70.0%"))
        #expect(words.contains("cat/img_2.jpg"))
    }

    @Test func validationFiguresAreLabelledAsSuchAndAnEmptyMistakeListSaysSo() {
        let report = EvaluationPage.report(Self.evaluation(isTest: false, mistakes: 0))
        let html = report.html()
        #expect(html.contains("Validation figures: the split that chose this checkpoint"))
        #expect(!html.contains("never used for a choice"))
        #expect(report.sections.map(\.heading).last == "Most confident mistakes (validation)")
        #expect(html.contains("No misclassified image was kept."))
        #expect(!html.contains("<image"))
    }

    @Test func theListingLabelsTestFiguresAsTest() {
        let table = CatalogListing.evaluations([Self.evaluation(), Self.evaluation(isTest: false)])
        let json = table.render(.json)
        #expect(json.contains("\"figures\" : \"test\"") || json.contains("\"figures\":\"test\""), "\(json)")
        #expect(json.contains("validation"))
        let text = table.render(.table)
        #expect(text.contains("/data/pets-test") && text.contains("validation split") && text.contains("top2=0.9000"))
    }
}
