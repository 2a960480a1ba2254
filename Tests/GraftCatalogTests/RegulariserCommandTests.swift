import Foundation
import Testing
import TestSupport

/// `--mixup`, `--cutmix` and `--ema` from the command line: a run that mixes its batches and keeps
/// a weight EMA, whose average is then exported, scored and published as a model of its own.
@Suite(.serialized) struct RegulariserCommandTests {
    typealias CLI = CommandLineBadInputTests

    @Test(
        "train --mixup --cutmix --ema records the average's figures; export, evaluate and publish take it with --ema",
        .enabled(if: graftBinaryPrerequisite.runs, graftBinaryPrerequisite.comment))
    func mixedRunWithAnAverage() throws {
        let dir = try TemporaryDirectory.make("graft-regularisers")
        defer { TemporaryDirectory.remove(dir) }
        try PublishTests.makeDataset(in: dir)
        let trained = try CLI.graft(
            [
                "train", "--model", "vanilla-cnn", "--data", "ds", "--image-size", "24", "--val", "0.25",
                "--epochs", "2", "--batch", "2", "--trainable", "block4,head", "--mixup", "0.4", "--cutmix", "1",
                "--ema", "0.9", "--label-smoothing", "0.1",
            ], in: dir)
        try #require(trained.status == 0, "\(trained.stderr)")
        #expect(trained.stderr.contains("mixup and CutMix mix the input images"), "\(trained.stderr)")
        #expect(trained.stderr.contains("EMA val loss"), "\(trained.stderr)")
        let metricsLine = try #require(trained.stdout.split(separator: "\n").first { $0.hasPrefix("metrics: ") })
        let metricsPath = String(metricsLine.dropFirst("metrics: ".count))
        let metrics = try String(
            contentsOf: URL(fileURLWithPath: metricsPath, relativeTo: dir), encoding: .utf8)
        for field in ["\"emaValidationAccuracy\"", "\"mixupAlpha\" : 0.4", "\"cutmixAlpha\" : 1", "\"emaDecay\" : 0.9"]
        {
            #expect(metrics.contains(field), "metrics.json lacks \(field)")
        }

        let shown = try CLI.graft(["runs", "show", "1"], in: dir)
        #expect(shown.status == 0 && shown.stdout.contains("ema_val_acc"), "\(shown.stdout)")

        let exported = try CLI.graft(["ckpt", "export", "--run", "1", "--ema", "--output", "ema.h5"], in: dir)
        #expect(exported.status == 0 && exported.stdout.contains("'s weight EMA"), "\(exported.stderr)")
        let scored = try CLI.graft(["evaluate", "--run", "1", "--ema", "--no-record", "--quiet", "--json"], in: dir)
        #expect(scored.status == 0 && scored.stdout.contains("weight EMA of checkpoint"), "\(scored.stderr)")
        let published = try CLI.graft(["models", "publish", "--run", "1", "--id", "cnn-ema", "--ema"], in: dir)
        #expect(published.status == 0 && published.stdout.contains("'s weight EMA"), "\(published.stderr)")
        let card = try String(contentsOf: dir.appendingPathComponent("Weights/cnn-ema.card.json"), encoding: .utf8)
        #expect(card.contains("weight EMA"))
        // The published average is the exported one, byte for byte in its weights.
        let onFile = try CLI.graft(
            ["evaluate", "--weights", "ema.h5", "--data", "ds", "--no-record", "--json"], in: dir)
        #expect(onFile.status == 0, "\(onFile.stderr)")

        let refused = try CLI.graft(["evaluate", "--weights", "ema.h5", "--data", "ds", "--ema"], in: dir)
        #expect(refused.status != 0 && refused.stderr.contains("--ema scores a checkpoint's weight EMA"))
    }
}
