import Foundation
import Testing
import TestSupport

/// The README's flowers walkthrough, run as written: its commands are read out of README.md
/// (the `sh` blocks between the `walkthrough: begin` and `walkthrough: end` markers) and run
/// with the built `graft`, one after another, in a temporary directory holding stand-ins for
/// what a user downloads — the fixtures' random-valued ResNet34 under torchvision's file name, and
/// a few fixture photos in each of the five flower folders. Only sizes are changed: options
/// appended to a command (swift-argument-parser keeps the last value of a repeated option)
/// shrink the images, batches, epochs and runs so the whole walkthrough takes under a minute.
@Suite(.serialized) struct WalkthroughTests {
    /// The classes of the Kaggle flowers set, as its folders are named.
    static let classes = ["daisy", "dandelion", "rose", "sunflower", "tulip"]

    /// Appended to the README's command, by subcommand. Four photos a class leave 3 for training
    /// (15 images, 4 batches of 4 an epoch) and 1 for validation. Fine-tuning gets one epoch of the
    /// head, then 4 with half cycles of one epoch: two minima, at epochs 3 and 5.
    static let overrides: [String: [String]] = [
        "lr-find": ["--image-size", "32", "--batch", "4", "--steps", "20"],
        "finetune": [
            "--image-size", "32", "--batch", "4", "--freeze-epochs", "1", "--epochs", "4", "--step-size", "1ep",
            "--quiet",
        ],
        "compare": ["--image-size", "32", "--batch", "4", "--epochs", "2", "--runs", "1", "--quiet"],
    ]

    /// The commands of the README's walkthrough, each as its words.
    /// - Throws: when the markers are missing, or a command uses shell syntax the test cannot run
    ///   as written (quotes, variables, redirections, pipes, globs).
    static func readmeCommands() throws -> [[String]] {
        let readme = try String(
            contentsOf: Fixtures.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let begin = try #require(readme.range(of: "<!-- walkthrough: begin"), "README.md: no walkthrough marker")
        let end = try #require(readme.range(of: "<!-- walkthrough: end", range: begin.upperBound..<readme.endIndex))
        var commands: [[String]] = []
        var inBlock = false
        var pending = ""
        for rawLine in readme[begin.upperBound..<end.lowerBound].split(
            separator: "\n", omittingEmptySubsequences: false)
        {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("```") {
                inBlock = !inBlock && line == "```sh"
                continue
            }
            guard inBlock, !line.isEmpty else { continue }
            let unsupported = line.first { "'\"`$|;&<>*()".contains($0) }
            try #require(unsupported == nil, "README walkthrough: '\(line)' is not a plain command")
            if line.hasSuffix("\\") {
                pending += line.dropLast() + " "
                continue
            }
            let words = (pending + line).split(whereSeparator: \.isWhitespace).map(String.init)
            pending = ""
            let command = Array(words.prefix { !$0.hasPrefix("#") })
            try #require(command.first == "graft", "README walkthrough: '\(line)' is not a graft command")
            commands.append(command)
        }
        return commands
    }

    /// `data scan`, `lr-find`, …: the words that name a command.
    static func subcommand(_ command: [String]) -> String {
        command.dropFirst().prefix(command.count > 1 && command[1] == "data" ? 2 : 1).joined(separator: " ")
    }

    /// The stand-ins: the random ResNet34 under the official file name, and the five class folders.
    static func makeStandIns(in dir: URL) throws {
        try FileManager.default.copyItem(
            at: Fixtures.url("resnet34/resnet34-random-seed0.pth"),
            to: dir.appendingPathComponent("resnet34-b627a593.pth"))
        let photos = ["flower", "flower_444", "flower_baseline420", "flower_progressive", "china", "rocket"]
        for (c, name) in classes.enumerated() {
            let folder = dir.appendingPathComponent("flowers/\(name)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for i in 0..<4 {
                try FileManager.default.copyItem(
                    at: Fixtures.url("images/\(photos[(c + i) % photos.count]).jpg"),
                    to: folder.appendingPathComponent("\(name)-\(i).jpg"))
            }
            // Kept out of `flowers`: a test folder of the same classes, and new photos to predict.
            let test = dir.appendingPathComponent("flowers-test/\(name)")
            try FileManager.default.createDirectory(at: test, withIntermediateDirectories: true)
            for i in 0..<2 {
                try FileManager.default.copyItem(
                    at: Fixtures.url("images/\(photos[(c + i + 4) % photos.count]).jpg"),
                    to: test.appendingPathComponent("\(name)-test-\(i).jpg"))
            }
        }
        let new = dir.appendingPathComponent("new-photos/garden")
        try FileManager.default.createDirectory(at: new, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            at: Fixtures.url("images/flower.jpg"), to: dir.appendingPathComponent("new-photos/a.jpg"))
        try FileManager.default.copyItem(at: Fixtures.url("images/rocket.jpg"), to: new.appendingPathComponent("b.jpg"))
    }

    @Test(
        "the README's flowers walkthrough runs as written on stand-in data",
        .enabled(if: graftBinaryPrerequisite.runs, graftBinaryPrerequisite.comment),
        .enabled(if: Fixtures.prerequisite.runs, Fixtures.prerequisite.comment))
    func walkthrough() throws {
        try Fixtures.prerequisite.require()
        let commands = try Self.readmeCommands()
        #expect(
            commands.map(Self.subcommand) == [
                "convert", "data scan", "data split", "lr-find", "finetune", "evaluate", "ensemble", "compare",
                "report",
                "evaluate", "report", "predict", "export", "export",
            ])
        let dir = try TemporaryDirectory.make("graft-walkthrough")
        defer { TemporaryDirectory.remove(dir) }
        try Self.makeStandIns(in: dir)
        let environment = [
            "GRAFT_CATALOG": dir.appendingPathComponent("Catalog/catalog.sqlite").path,
            "GRAFT_WEIGHTS": dir.appendingPathComponent("Weights").path,
        ]
        func graft(_ arguments: [String]) throws -> CommandLineBadInputTests.Outcome {
            let outcome = try CommandLineBadInputTests.graft(arguments, in: dir, environment: environment)
            try #require(
                outcome.status == 0,
                "graft \(arguments.joined(separator: " ")) exited with \(outcome.status): \(outcome.stderr)")
            return outcome
        }
        var testAccuracy: Double?
        for command in commands {
            let name = Self.subcommand(command)
            let out = try graft(Array(command.dropFirst()) + (Self.overrides[name] ?? []))
            switch name {
            case "convert":
                // The stand-in is not torchvision's file: converted all the same, with a warning.
                #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("Weights/resnet34.h5").path))
                #expect(out.stdout.contains("model        resnet34 (resnet34, 1000 classes)"), "\(out.stdout)")
                #expect(out.stdout.contains("tensors      218, 21797672 parameters"), "\(out.stdout)")
                #expect(out.stdout.contains("DIFFERS from the official file"), "\(out.stdout)")
                #expect(out.stderr.contains("differs from the official resnet34-b627a593.pth"), "\(out.stderr)")
            case "data scan":
                #expect(out.stdout.contains("20 images in 5 classes"), "\(out.stdout)")
                for (i, name) in Self.classes.enumerated() { #expect(out.stdout.contains("  \(i)\t\(name)\t4")) }
            case "data split":
                let file = try JSONDecoder().decode(
                    CommandLineBadInputTests.SplitFile.self,
                    from: Data(contentsOf: dir.appendingPathComponent("flowers/.graft-split.json")))
                #expect(file.train.count == 15 && file.val.count == 5)
                #expect(out.stdout.contains("daisy\ttrain 3\tval 1"), "\(out.stdout)")
            case "lr-find":
                #expect(out.stdout.contains("LR range test: 20 steps"), "\(out.stdout)")
                for rule in ["min_loss_div10", "steepest", "valley"] {
                    #expect(out.stdout.contains("  \(rule): lr "), "\(out.stdout)")
                }
                #expect(out.stdout.contains("catalog: LR range test 1"))
                #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("out/lr-find.svg").path))
            case "finetune":
                #expect(out.stdout.contains("(new 5-class head)"), "\(out.stdout)")
                // Its own range test, of the head on the frozen trunk: the catalog's second.
                #expect(out.stdout.contains("of LR range test 2 (run now)"), "\(out.stdout)")
                #expect(out.stdout.contains("phase 1, epochs 1–1: head; "), "\(out.stdout)")
                #expect(
                    out.stdout.contains("phase 2, epochs 2–5: layer4,head; half of phase 1's rate"), "\(out.stdout)")
                #expect(out.stdout.contains("run 1: 5 epochs"), "\(out.stdout)")
                #expect(out.stdout.contains("next: graft evaluate --run 1 --best val_acc"), "\(out.stdout)")
                let minima = try graft(["ckpt", "list", "--run", "1", "--minima", "--json"])
                let rows = try Self.jsonRows(minima.stdout)
                #expect(rows.compactMap { $0["epoch"] as? Int }.sorted() == [3, 5], "\(minima.stdout)")
                for row in rows {
                    let path = try #require(row["path"] as? String)
                    #expect(row["minimum"] as? String == "yes")
                    #expect(
                        FileManager.default.fileExists(atPath: dir.appendingPathComponent("Catalog/\(path)").path),
                        "\(path)")
                }
                // Training used the split `data split` wrote, and keeps a copy in the catalog.
                let splits = try FileManager.default.contentsOfDirectory(
                    at: dir.appendingPathComponent("Catalog/splits"), includingPropertiesForKeys: nil)
                let decode = { (url: URL) in
                    try JSONDecoder().decode(CommandLineBadInputTests.SplitFile.self, from: Data(contentsOf: url))
                }
                #expect(try splits.map(decode) == [try decode(dir.appendingPathComponent("flowers/.graft-split.json"))])
            case "evaluate" where command.contains("flowers-test"):
                // Step 9: test figures, recorded as evaluation 2 with its mistakes' thumbnails.
                #expect(out.stdout.contains("flowers-test (never used for a choice)"), "\(out.stdout)")
                #expect(out.stdout.contains("flip"), "\(out.stdout)")
                let json = try graft(Array(command.dropFirst()) + ["--json", "--no-record"]).stdout
                let object = try #require(
                    try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], "\(json)")
                let summary = try #require(object["summary"] as? [String: Any])
                #expect(summary["images"] as? Int == 10, "\(summary)")
                testAccuracy = summary["accuracy"] as? Double
                let all = try Self.jsonRows(try graft(["evaluations", "--run", "1", "--json"]).stdout)
                #expect(all.map { $0["id"] as? Int } == [1, 2], "\(all)")
                #expect(all.last?["figures"] as? String == "test", "\(all)")
                #expect((all.last?["data"] as? String)?.hasSuffix("/flowers-test") == true, "\(all)")
                #expect(try graft(["evaluations"]).stdout.contains("test"))
            case "report" where command.contains("--evaluation"):
                // Step 10: the page of evaluation 2.
                #expect(out.stdout.contains("/out/report-evaluation-2.html"), "\(out.stdout)")
                let page = try String(
                    contentsOf: dir.appendingPathComponent("out/report-evaluation-2.html"), encoding: .utf8)
                for part in [
                    "Confusion matrix (test)", "Per-class precision, recall and F1 (test)", "Calibration (test)",
                    "Most confident mistakes (test)", "never used for a choice",
                ] {
                    #expect(page.contains(part), "\(part)")
                }
                let wrong = Int(((1 - (try #require(testAccuracy))) * 10).rounded())
                #expect(
                    page.components(separatedBy: "href=\"data:image/jpeg;base64,").count - 1 == min(16, wrong),
                    "a thumbnail per kept mistake")
                // A run's report ends with its evaluations.
                _ = try graft(["report", "--run", "1"])
                let runPage = try String(
                    contentsOf: dir.appendingPathComponent("out/report-run-1.html"), encoding: .utf8)
                #expect(runPage.contains("Evaluations") && runPage.contains("Evaluation 2 · Confusion matrix (test)"))
                #expect(runPage.contains("Evaluation 1 · Calibration (validation)"))
            case "evaluate":
                for section in ["Evaluation:", "Per class:", "Confusion matrix (rows: true class):", "Reliability"] {
                    #expect(out.stdout.contains(section), "\(out.stdout)")
                }
                #expect(out.stdout.contains("the run's validation split"), "\(out.stdout)")
                // The same figures training recorded for that checkpoint.
                let best = try Self.jsonRows(graft(["ckpt", "best", "--run", "1", "--json"]).stdout)
                let accuracy = try #require(best.first?["val_acc"] as? Double, "\(best)")
                let json = try graft(Array(command.dropFirst()) + ["--json", "--no-record"]).stdout
                let object = try #require(
                    try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], "\(json)")
                #expect(Set(object.keys) == ["summary", "per_class", "confusion", "reliability"], "\(object.keys)")
                let summary = try #require(object["summary"] as? [String: Any])
                #expect(abs((summary["accuracy"] as? Double ?? -1) - accuracy) < 1e-9, "\(summary)")
                // Each evaluation is a catalog row, listed as validation figures; --no-record keeps none.
                #expect(summary["evaluation"] == nil, "--no-record has no row to name")
                let listed = try Self.jsonRows(try graft(["evaluations", "--json"]).stdout)
                #expect(listed.map { $0["id"] as? Int } == [1], "\(listed)")
                #expect(listed.allSatisfy { $0["figures"] as? String == "validation" }, "\(listed)")
                #expect(abs((listed.last?["accuracy"] as? Double ?? -1) - accuracy) < 1e-9, "\(listed)")
            case "ensemble":
                for section in ["members", "ensembles", "advice (chosen on validation)"] {
                    #expect(out.stdout.contains(section), "\(out.stdout)")
                }
                for method in ["probs", "logits", "vote", "swa"] { #expect(out.stdout.contains(method)) }
                // JSON names its sections and fields in snake_case, whatever the tables' headings say.
                let json = try graft(Array(command.dropFirst()) + (Self.overrides[name] ?? []) + ["--json"])
                let object = try #require(
                    try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json.stdout)")
                #expect(
                    Set(object.keys) == ["members", "ensembles", "disagreement", "correlation", "advice"],
                    "\(object.keys)")
                let rows = try #require(object["ensembles"] as? [[String: Any]])
                #expect(
                    rows.first.map { Set($0.keys) } == [
                        "id", "method", "members", "accuracy", "loss", "best_single", "gain",
                    ])
                let memberRows = try #require(object["members"] as? [[String: Any]])
                #expect(memberRows.first?["index"] as? Int == 1, "\(memberRows)")
                // A recorded ensemble scores as one model: the same accuracy on the same split.
                for method in ["probs", "logits"] {
                    let row = try #require(rows.first { $0["method"] as? String == method }, "\(rows)")
                    let id = try #require(row["id"] as? Int)
                    let scored = try graft(["evaluate", "--ensemble", String(id), "--json", "--no-record"]).stdout
                    let summary = try #require(
                        (try JSONSerialization.jsonObject(with: Data(scored.utf8)) as? [String: Any])?["summary"]
                            as? [String: Any], "\(scored)")
                    #expect(
                        abs((summary["accuracy"] as? Double ?? -1) - (row["accuracy"] as? Double ?? -2)) < 1e-9,
                        "\(method): \(summary) vs \(row)")
                }
            case "compare":
                for optimizer in ["sgd-clr", "adagrad", "adadelta", "rmsprop", "adam", "adamax"] {
                    #expect(out.stdout.contains("runs \(optimizer): "), "\(out.stdout)")
                }
                #expect(out.stdout.contains("comparison 1 done: graft report --compare 1"), "\(out.stdout)")
                let runs = try Self.jsonRows(try graft(["runs", "list", "--comparison", "1", "--json"]).stdout)
                #expect(runs.count == 6 && runs.allSatisfy { $0["status"] as? String == "finished" }, "\(runs)")
            case "report":
                let html = try String(
                    contentsOf: dir.appendingPathComponent("out/report-comparison-1.html"), encoding: .utf8)
                #expect(html.contains("<svg") && html.contains("Comparison: "))
                #expect(out.stdout.hasPrefix("report: ") && out.stdout.contains("/out/report-comparison-1.html"))
            case "predict":
                // A header and one row per photo, the nested one included.
                let lines = out.stdout.split(separator: "\n")
                #expect(lines.first == "path,class_1,probability_1,class_2,probability_2", "\(out.stdout)")
                #expect(lines.count == 3 && out.stdout.contains("new-photos/garden/b.jpg"), "\(out.stdout)")
            case "export":
                let output = try #require(command.firstIndex(of: "--output").map { command[$0 + 1] })
                #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(output).path), "\(output)")
                #expect(
                    out.stdout.contains(
                        "resnet34, 5 classes (daisy, dandelion, rose, sunflower, tulip), input 3×32×32"),
                    "\(out.stdout)")
            default:
                Issue.record("the walkthrough's '\(name)' has no checks here")
            }
        }
    }

    /// The rows of a `--json` listing.
    static func jsonRows(_ text: String) throws -> [[String: Any]] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]], "\(text)")
    }
}
