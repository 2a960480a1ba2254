import Foundation
import Testing
import TestSupport

/// `graft` as a new user runs it: from a directory outside the repository, with broken files.
@Suite(.serialized) struct CommandLineBadInputTests {
    typealias Outcome = ProcessOutcome

    /// Runs the built `graft` in `directory` (GRAFT_MODELS unset, so the shipped zoo is used),
    /// with `environment` added to the test's own.
    static func graft(_ arguments: [String], in directory: URL, environment: [String: String] = [:]) throws -> Outcome {
        try graftBinaryPrerequisite.require()
        let binary = try #require(graftBinary())
        var merged = ProcessInfo.processInfo.environment
        merged.removeValue(forKey: "GRAFT_MODELS")
        merged.removeValue(forKey: "GRAFT_CATALOG")
        merged.merge(environment) { _, new in new }
        return try ChildProcess.run(binary, arguments, environment: merged, directory: directory)
    }

    /// The lists of a split file (`graft data split`'s JSON).
    struct SplitFile: Decodable, Equatable {
        var train: [String]
        var val: [String]
    }

    /// A photo cut after 3,000 bytes: its header reads, its image data ends early.
    static func writeTruncated(to url: URL) throws {
        try Data(try Data(contentsOf: Fixtures.url("images/flower_baseline420.jpg")).prefix(3000)).write(to: url)
    }

    @Test(
        "--tta takes flip, crops or flip,crops on predict, evaluate and ensemble, and lists them for anything else",
        .enabled(if: graftBinaryPrerequisite.runs, graftBinaryPrerequisite.comment))
    func testTimeAugmentationOption() throws {
        let dir = try TemporaryDirectory.make("graft-cli-tta")
        defer { TemporaryDirectory.remove(dir) }
        for command in [
            ["predict", "--weights", "w.h5", "a.jpg"], ["evaluate", "--weights", "w.h5"], ["ensemble", "--run", "1"],
        ] {
            let refused = try Self.graft(command + ["--tta", "tencrop"], in: dir)
            #expect(refused.status != 0)
            #expect(
                refused.stderr.contains("'tencrop'") && refused.stderr.contains("'flip'")
                    && refused.stderr.contains("'crops'") && refused.stderr.contains("'flip,crops'"),
                "\(command[0]): \(refused.stderr)")
        }
        let converted = try Self.graft(
            [
                "convert", Fixtures.url("resnet34/resnet34-random-seed0.pth").path,
                "--model", "resnet34", "--output", "r34.h5",
            ], in: dir)
        #expect(converted.status == 0, "\(converted.stderr)")
        let photo = Fixtures.url("images/flower.jpg").path
        var top: [String: Double] = [:]
        for tta in ["", "flip", "crops", "crops,flip"] {
            let run = try Self.graft(
                ["predict", "--model", "resnet34", "--weights", "r34.h5", "--json", "--top", "1", photo]
                    + (tta.isEmpty ? [] : ["--tta", tta]), in: dir)
            #expect(run.status == 0, "--tta \(tta): \(run.stderr)")
            struct Prediction: Decodable {
                struct Entry: Decodable { var probability: Double }; var top: [Entry]
            }
            top[tta] = try JSONDecoder().decode([Prediction].self, from: Data(run.stdout.utf8)).first?.top.first?
                .probability
        }
        // The random ResNet34's logits reach about 185, so its softmax saturates: the means are
        // checked on a small model in TestTimeAugmentationTests; here every set of views runs.
        #expect(top.count == 4 && top.values.allSatisfy { $0 > 0 && $0 <= 1 }, "\(top)")
    }

    @Test(
        "predict from another directory names ImageNet classes and goes on past a bad photo",
        .enabled(if: graftBinaryPrerequisite.runs, graftBinaryPrerequisite.comment))
    func predictFromAnywhere() throws {
        let dir = try TemporaryDirectory.make("graft-cli")
        defer { TemporaryDirectory.remove(dir) }
        let converted = try Self.graft(
            [
                "convert", Fixtures.url("resnet34/resnet34-random-seed0.pth").path,
                "--model", "resnet34", "--output", "r34.h5",
            ], in: dir)
        #expect(converted.status == 0, "\(converted.stderr)")
        try Self.writeTruncated(to: dir.appendingPathComponent("bad.jpg"))
        let photos = [Fixtures.url("images/flower.jpg").path, "bad.jpg", Fixtures.url("images/china.jpg").path]
        let text = try Self.graft(
            ["predict", "--model", "resnet34", "--weights", "r34.h5", "--top", "1"] + photos, in: dir)
        #expect(text.status == 1)
        #expect(text.stderr.contains("bad.jpg") && text.stderr.contains("1 of 3 images could not be read"))
        #expect(text.stdout.contains("flower.jpg") && text.stdout.contains("china.jpg"))
        #expect(!text.stdout.contains("class "), "class names, not indices: \(text.stdout)")

        let json = try Self.graft(
            ["predict", "--model", "resnet34", "--weights", "r34.h5", "--json", "--top", "1", photos[0]],
            in: dir)
        #expect(json.status == 0)
        struct Prediction: Decodable {
            struct Entry: Decodable { var classIndex: Int; var className: String }; var top: [Entry]
        }
        let decoded = try JSONDecoder().decode([Prediction].self, from: Data(json.stdout.utf8))
        let names = try String(
            contentsOf: Fixtures.packageRoot.appendingPathComponent("Models/imagenet-classes.txt"), encoding: .utf8
        )
        .split(separator: "\n").map(String.init)
        let top = try #require(decoded.first?.top.first)
        #expect(names[top.classIndex] == top.className)

        // A folder, searched recursively, in batches smaller than it: one CSV row per readable
        // photo, in path order; the bad one named, the exit status 1.
        let folder = dir.appendingPathComponent("photos/nested, deeper")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (i, photo) in ["flower", "china", "flower_444"].enumerated() {
            try FileManager.default.copyItem(
                at: Fixtures.url("images/\(photo).jpg"), to: folder.appendingPathComponent("\(i).jpg"))
        }
        try FileManager.default.copyItem(
            at: dir.appendingPathComponent("bad.jpg"), to: dir.appendingPathComponent("photos/bad.jpg"))
        let csv = try Self.graft(
            ["predict", "--model", "resnet34", "--weights", "r34.h5", "--csv", "--top", "2", "--batch", "2", "photos"],
            in: dir)
        #expect(csv.status == 1)
        #expect(csv.stderr.contains("photos/bad.jpg") && csv.stderr.contains("1 of 4 images could not be read"))
        let lines = csv.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "path,class_1,probability_1,class_2,probability_2")
        #expect(lines.count == 4, "\(csv.stdout)")
        for (i, line) in lines.dropFirst().enumerated() {
            #expect(line.hasPrefix("\"\(folder.path)/\(i).jpg\","), "a path with a comma is quoted: \(line)")
        }
    }

    @Test(
        "a truncated JPEG is named by scan --verify and kept out of the split; stats says what it skips",
        .enabled(if: graftBinaryPrerequisite.runs, graftBinaryPrerequisite.comment))
    func truncatedJPEG() throws {
        let dir = try TemporaryDirectory.make("graft-cli-data")
        defer { TemporaryDirectory.remove(dir) }
        for (folder, photo) in [("a", "flower_444"), ("b", "flower_baseline420")] {
            try FileManager.default.createDirectory(
                at: dir.appendingPathComponent("ds/\(folder)"), withIntermediateDirectories: true)
            for i in 0..<6 {
                try FileManager.default.copyItem(
                    at: Fixtures.url("images/\(photo).jpg"), to: dir.appendingPathComponent("ds/\(folder)/\(i).jpg"))
            }
        }
        try Self.writeTruncated(to: dir.appendingPathComponent("ds/a/cut.jpg"))

        let quick = try Self.graft(["data", "scan", "ds"], in: dir)
        #expect(quick.status == 0 && !quick.stdout.contains("cut.jpg"), "a header scan cannot see it")
        let verified = try Self.graft(["data", "scan", "ds", "--verify"], in: dir)
        #expect(verified.stdout.contains("unreadable: 1") && verified.stdout.contains("cut.jpg"))

        // An unverified split holds it (a validation fraction this small keeps every image for
        // training); stats then says it skipped it.
        _ = try Self.graft(["data", "split", "ds", "--no-verify", "--val", "0.05"], in: dir)
        let stats = try Self.graft(["data", "stats", "ds"], in: dir)
        #expect(stats.stderr.contains("cut.jpg"))
        #expect(
            stats.stdout.contains("12 training images, ")
                && stats.stdout.contains("(1 of 13 in the split skipped as unreadable)"),
            "\(stats.stdout)")

        // The default split decodes every file and leaves it out.
        let split = try Self.graft(["data", "split", "ds", "--val", "0.05"], in: dir)
        #expect(split.status == 0 && split.stderr.contains("cut.jpg"))
        let file = try JSONDecoder().decode(
            Self.SplitFile.self, from: Data(contentsOf: dir.appendingPathComponent("ds/.graft-split.json")))
        #expect(file.train.count + file.val.count == 12 && !(file.train + file.val).contains("a/cut.jpg"))
        let clean = try Self.graft(["data", "stats", "ds"], in: dir)
        #expect(clean.status == 0 && clean.stdout.contains("12 training images") && !clean.stdout.contains("skipped"))
        #expect(!clean.stderr.contains("changed since"), "\(clean.stderr)")
    }

    @Test(
        "out-of-range options fail with a message naming the option",
        .enabled(if: graftBinaryPrerequisite.runs, graftBinaryPrerequisite.comment),
        arguments: [
            (["--image-size", "8"], "image size 8 is too small for vanilla-cnn"),
            (["--dropout", "1"], "dropout 1.0 must be in [0, 1)"),
            (["--dropout", "1.5"], "dropout 1.5 must be in [0, 1)"),
            (["--label-smoothing", "1"], "label smoothing 1.0 must be in [0, 1)"),
            (["--label-smoothing=-0.1"], "label smoothing -0.1 must be in [0, 1)"),
            (["--mixup", "0"], "mixup alpha 0.0 must be a positive number"),
            (["--cutmix=-1"], "cutmix alpha -1.0 must be a positive number"),
            (["--ema", "1"], "EMA decay 1.0 must be in (0, 1)"),
            (["--patience", "0"], "patience 0 must be at least 1"),
            (["--monitor", "val_acc"], "--monitor and --min-delta go with --patience N"),
            (["--epochs", "0"], "epochs 0 must be at least 1"),
            (["--val", "1"], "validation fraction 1.0 must be in (0, 1)"),
        ])
    func optionRanges(arguments: [String], message: String) throws {
        let dir = try TemporaryDirectory.make("graft-cli-options")
        defer { TemporaryDirectory.remove(dir) }
        try FileManager.default.createDirectory(
            at: dir.appendingPathComponent("ds/a"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(
            at: dir.appendingPathComponent("ds/b"), withIntermediateDirectories: true)
        for i in 0..<4 {
            try FileManager.default.copyItem(
                at: Fixtures.url("images/flower_444.jpg"), to: dir.appendingPathComponent("ds/a/\(i).jpg"))
            try FileManager.default.copyItem(
                at: Fixtures.url("images/flower_444.jpg"), to: dir.appendingPathComponent("ds/b/\(i).jpg"))
        }
        let outcome = try Self.graft(
            ["train", "--model", "vanilla-cnn", "--data", "ds", "--image-size", "32", "--quiet"]
                + arguments, in: dir)
        #expect(outcome.status != 0)
        #expect(outcome.stderr.contains(message), "\(outcome.stderr)")
        #expect(
            !FileManager.default.fileExists(atPath: dir.appendingPathComponent("Catalog/checkpoints").path),
            "nothing may be saved")
    }

    @Test(
        "graft evaluate refuses what it cannot score, naming the option",
        .enabled(if: graftBinaryPrerequisite.runs, graftBinaryPrerequisite.comment),
        arguments: [
            ([String](), "give one of: a checkpoint id, --run R, --weights FILE or --model ID"),
            (["3", "--run", "1"], "give one of: a checkpoint id, --run R, --weights FILE or --model ID"),
            (["--model", "resnet34", "3"], "give one of: a checkpoint id, --run R, --weights FILE or --model ID"),
            (["3", "--checkpoint", "3"], "give one of: a checkpoint id, --run R, --weights FILE or --model ID"),
            (["--model", "resnet34"], "a weights file has no validation split"),
            (["--model", "resnet34", "--data", "fashion-mnist"], "model 'resnet34' has no weights at"),
            (["--weights", "w.h5"], "a weights file has no validation split"),
            (["--run", "1", "--top-k", "0"], "top-k values are whole numbers of at least 1"),
        ])
    func evaluateArguments(arguments: [String], message: String) throws {
        let dir = try TemporaryDirectory.make("graft-cli-evaluate")
        defer { TemporaryDirectory.remove(dir) }
        let outcome = try Self.graft(["evaluate"] + arguments, in: dir)
        #expect(outcome.status != 0)
        #expect(outcome.stderr.contains(message), "\(outcome.stderr)")
    }

    @Test(
        "an installed graft reads the cards installed beside it (make install's layout)",
        .enabled(if: graftBinaryPrerequisite.runs, graftBinaryPrerequisite.comment))
    func installedLayout() throws {
        try graftBinaryPrerequisite.require()
        let prefix = try TemporaryDirectory.make("graft-prefix")
        defer { TemporaryDirectory.remove(prefix) }
        let bin = prefix.appendingPathComponent("bin"), models = prefix.appendingPathComponent("share/graft/Models")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: try #require(graftBinary()), to: bin.appendingPathComponent("graft"))
        // Only one card is installed, so the listing shows which zoo was read.
        try FileManager.default.copyItem(
            at: Fixtures.packageRoot.appendingPathComponent("Models/vanilla-cnn.json"),
            to: models.appendingPathComponent("vanilla-cnn.json"))
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "GRAFT_MODELS")
        let outcome = try ChildProcess.run(
            bin.appendingPathComponent("graft"), ["models"], environment: environment,
            directory: FileManager.default.temporaryDirectory)
        let listing = outcome.stdout
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(listing.contains("vanilla-cnn") && !listing.contains("resnet34"), "\(listing)")
    }
}
