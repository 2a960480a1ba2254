import Foundation
import GraftSupport
import Testing
import TestSupport

/// `graft models publish`: a trained checkpoint becomes a zoo model whose card says where it
/// came from, and which `--model` then finds, from the directory its weights are in.
@Suite(.serialized) struct PublishTests {
    typealias CLI = CommandLineBadInputTests

    /// The parts of a published card these tests read.
    struct Card: Decodable {
        struct TrainedBy: Decodable {
            var run: Int64
            var checkpoint: Int64
            var dataset: String
            var val_fraction: Double
            var split_seed: UInt64
            var weights_sha256: String
        }
        var id: String
        var architecture: String
        var input_size: [Int]
        var mean: [Double]
        var std: [Double]
        var class_names: [String]
        var weights_file: String
        var trained_by: TrainedBy
    }

    struct ShippedNormalisation: Decodable {
        var mean: [Double]
        var std: [Double]
    }

    /// Two classes of four photos each in `ds/`.
    static func makeDataset(in dir: URL) throws {
        for (folder, photo) in [("boots", "flower_444"), ("coats", "china")] {
            try FileManager.default.createDirectory(
                at: dir.appendingPathComponent("ds/\(folder)"), withIntermediateDirectories: true)
            for i in 0..<4 {
                try FileManager.default.copyItem(
                    at: Fixtures.url("images/\(photo).jpg"), to: dir.appendingPathComponent("ds/\(folder)/\(i).jpg"))
            }
        }
    }

    /// `makeDataset`, and a two-epoch vanilla-CNN run on it (run 1).
    static func trainedRun(in dir: URL) throws {
        try makeDataset(in: dir)
        let trained = try CLI.graft(
            [
                "train", "--model", "vanilla-cnn", "--data", "ds", "--image-size", "24", "--val", "0.25", "--epochs",
                "2", "--batch", "2", "--save-every", "1", "--quiet",
            ], in: dir)
        try #require(trained.status == 0, "\(trained.stderr)")
    }

    @Test(
        "a published checkpoint is a zoo model: its card records run, data, split and digest, and --model finds it",
        .enabled(if: graftBinaryPrerequisite.runs, graftBinaryPrerequisite.comment))
    func publishAndUse() throws {
        let dir = try TemporaryDirectory.make("graft-publish")
        defer { TemporaryDirectory.remove(dir) }
        try Self.trainedRun(in: dir)

        let published = try CLI.graft(["models", "publish", "--run", "1", "--id", "cnn-clothes"], in: dir)
        #expect(published.status == 0, "\(published.stderr)")
        let cardURL = dir.appendingPathComponent("Weights/cnn-clothes.card.json")
        let weightsURL = dir.appendingPathComponent("Weights/cnn-clothes.h5")
        let card = try JSONDecoder().decode(Card.self, from: Data(contentsOf: cardURL))
        #expect(card.id == "cnn-clothes" && card.architecture == "vanilla-cnn")
        #expect(card.input_size == [3, 24, 24])
        #expect(card.class_names == ["boots", "coats"])
        #expect(card.weights_file == "cnn-clothes.h5")
        #expect(card.trained_by.run == 1 && card.trained_by.val_fraction == 0.25 && card.trained_by.split_seed == 0)
        #expect(card.trained_by.dataset == "ds")
        #expect(card.trained_by.weights_sha256 == (try SHA256.hex(of: weightsURL)))
        // The normalisation the run used: the vanilla CNN card's, read here from the card itself,
        // written back in its shortest form rather than as float32 widened to double.
        let shippedCard = try JSONDecoder().decode(
            ShippedNormalisation.self,
            from: Data(contentsOf: Fixtures.packageRoot.appendingPathComponent("Models/vanilla-cnn.json")))
        #expect(card.mean == shippedCard.mean && card.std == shippedCard.std, "\(card.mean) \(card.std)")

        let listed = try CLI.graft(["models"], in: dir)
        #expect(listed.stdout.contains("cnn-clothes") && listed.stdout.contains("present"), "\(listed.stdout)")
        let shown = try CLI.graft(["models", "show", "cnn-clothes"], in: dir)
        #expect(shown.stdout.contains("trained by") && shown.stdout.contains("run 1"), "\(shown.stdout)")

        // --model takes the card's image size (24) when --image-size is not given.
        let tuned = try CLI.graft(
            [
                "train", "--model", "cnn-clothes", "--weights", "Weights/cnn-clothes.h5", "--data", "ds", "--val",
                "0.25", "--epochs", "1", "--batch", "2", "--trainable", "block4,head", "--quiet",
            ], in: dir)
        #expect(tuned.status == 0, "\(tuned.stderr)")
        // Published in turn, run 2 shows what it saw.
        #expect(try CLI.graft(["models", "publish", "--run", "2", "--id", "cnn-tuned"], in: dir).status == 0)
        let tunedCard = try JSONDecoder().decode(
            Card.self, from: Data(contentsOf: dir.appendingPathComponent("Weights/cnn-tuned.card.json")))
        #expect(tunedCard.input_size == [3, 24, 24] && tunedCard.class_names == ["boots", "coats"])
    }

    @Test(
        "publishing refuses a taken id and leaves the published files as they were",
        .enabled(if: graftBinaryPrerequisite.runs, graftBinaryPrerequisite.comment))
    func takenIds() throws {
        let dir = try TemporaryDirectory.make("graft-publish-taken")
        defer { TemporaryDirectory.remove(dir) }
        try Self.trainedRun(in: dir)
        #expect(try CLI.graft(["models", "publish", "1", "--id", "cnn-a"], in: dir).status == 0)
        let before = try SHA256.hex(of: dir.appendingPathComponent("Weights/cnn-a.h5"))
        let cardBefore = try Data(contentsOf: dir.appendingPathComponent("Weights/cnn-a.card.json"))

        // Another checkpoint under the same id: refused without --replace.
        let again = try CLI.graft(["models", "publish", "2", "--id", "cnn-a"], in: dir)
        #expect(again.status != 0 && again.stderr.contains("already published"), "\(again.stderr)")
        // The library's error names the id and the file; the command line adds the flag.
        #expect(again.stderr.contains("cnn-a") && again.stderr.contains("use --replace"), "\(again.stderr)")
        #expect(try SHA256.hex(of: dir.appendingPathComponent("Weights/cnn-a.h5")) == before)
        #expect(try Data(contentsOf: dir.appendingPathComponent("Weights/cnn-a.card.json")) == cardBefore)
        let replaced = try CLI.graft(["models", "publish", "2", "--id", "cnn-a", "--replace"], in: dir)
        #expect(replaced.status == 0, "\(replaced.stderr)")
        #expect(try SHA256.hex(of: dir.appendingPathComponent("Weights/cnn-a.h5")) != before)

        // A shipped id is never shadowed.
        let shipped = try CLI.graft(["models", "publish", "--run", "1", "--id", "resnet34"], in: dir)
        #expect(shipped.status != 0 && shipped.stderr.contains("shipped model"), "\(shipped.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("Weights/resnet34.h5").path))

        // A broken published card is named when the zoo loads.
        try Data("{ not json".utf8).write(to: dir.appendingPathComponent("Weights/broken.card.json"))
        let listed = try CLI.graft(["models"], in: dir)
        #expect(listed.status != 0 && listed.stderr.contains("broken.card.json"), "\(listed.stderr)")
    }
}
