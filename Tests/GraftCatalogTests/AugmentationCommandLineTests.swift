import Foundation
import Testing
import TestSupport

/// The augmentation flags of `train`, `lr-find` and `compare`: bad values name their flag, a run
/// records what it used, and a published card says so.
@Suite(.serialized) struct AugmentationCommandLineTests {
    typealias CLI = CommandLineBadInputTests

    @Test(
        "a bad augmentation value is refused with its flag named, before any training",
        .enabled(if: graftBinaryPrerequisite.runs, graftBinaryPrerequisite.comment))
    func badValues() throws {
        let dir = try TemporaryDirectory.make("graft-augment-bad")
        defer { TemporaryDirectory.remove(dir) }
        try PublishTests.makeDataset(in: dir)
        let base = ["train", "--model", "vanilla-cnn", "--data", "ds", "--image-size", "24", "--quiet"]
        for (flags, named) in [
            (["--augment", "heavy"], "--augment"), (["--color-jitter", "0.2,x"], "--color-jitter"),
            (["--color-jitter", "0.1,0.1,0.1,0.7"], "--color-jitter"), (["--random-erase", "1.5"], "--random-erase"),
            (["--rotate=-5"], "--rotate"),
        ] {
            let refused = try CLI.graft(base + flags, in: dir)
            #expect(refused.status != 0, "\(flags)")
            #expect(refused.stderr.contains(named), "\(flags): \(refused.stderr)")
        }
        // lr-find and compare share the options.
        for command in ["lr-find", "compare"] {
            let help = try CLI.graft([command, "--help"], in: dir)
            for flag in ["--augment <preset>", "--rotate", "--color-jitter", "--random-erase", "--trivial-augment"] {
                #expect(help.stdout.contains(flag), "\(command) --help lacks \(flag)")
            }
        }
    }

    @Test(
        "a run's augmentation is recorded and a published card names it; a bare --augment is light",
        .enabled(if: graftBinaryPrerequisite.runs, graftBinaryPrerequisite.comment))
    func recordedAndPublished() throws {
        struct Card: Decodable {
            struct TrainedBy: Decodable {
                var augment: Bool
                var augmentation: String?
            }
            var trained_by: TrainedBy
        }
        let dir = try TemporaryDirectory.make("graft-augment-run")
        defer { TemporaryDirectory.remove(dir) }
        try PublishTests.makeDataset(in: dir)
        let base = [
            "train", "--model", "vanilla-cnn", "--data", "ds", "--image-size", "24", "--val", "0.25", "--epochs", "1",
            "--batch", "2", "--quiet",
        ]
        let strong = try CLI.graft(
            base + [
                "--augment", "standard", "--rotate", "10", "--color-jitter", "0.2,0.2,0.2,0.05", "--random-erase",
                "0.5",
            ], in: dir)
        try #require(strong.status == 0, "\(strong.stderr)")
        // A bare --augment, followed by another option: the light preset.
        let light = try CLI.graft(Array(base.prefix(5)) + ["--augment"] + Array(base.dropFirst(5)), in: dir)
        try #require(light.status == 0, "\(light.stderr)")
        for (run, expected) in [
            (
                1,
                "standard: crop+flip, rotate 10°, color-jitter 0.2,0.2,0.2,0.05, trivial-augment-wide, random-erase 0.5"
            ),
            (2, "light: crop+flip"),
        ] {
            let published = try CLI.graft(["models", "publish", "--run", "\(run)", "--id", "cnn-aug-\(run)"], in: dir)
            try #require(published.status == 0, "\(published.stderr)")
            let card = try JSONDecoder().decode(
                Card.self, from: Data(contentsOf: dir.appendingPathComponent("Weights/cnn-aug-\(run).card.json")))
            #expect(card.trained_by.augmentation == expected && card.trained_by.augment)
            let shown = try CLI.graft(["models", "show", "cnn-aug-\(run)"], in: dir)
            #expect(shown.stdout.contains("augmented (\(expected))"), "\(shown.stdout)")
        }
    }
}
