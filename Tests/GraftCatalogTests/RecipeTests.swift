import Foundation
import Testing
import TestSupport

/// `graft train --recipe NAME`: the recipe's options, with the user's own winning.
@Suite(.serialized) struct RecipeTests {
    typealias CLI = CommandLineBadInputTests

    @Test(
        "--recipe snapshot-ensemble trains SGD with cosine restarts at 0.1 and a snapshot per cycle; given options win",
        .enabled(if: graftBinaryPrerequisite.runs, graftBinaryPrerequisite.comment))
    func snapshotRecipe() throws {
        let dir = try TemporaryDirectory.make("graft-recipe")
        defer { TemporaryDirectory.remove(dir) }
        try PublishTests.makeDataset(in: dir)
        // --epochs and --step-size override the recipe's 20 epochs and 4-epoch cycles.
        let trained = try CLI.graft(
            [
                "train", "--recipe", "snapshot-ensemble", "--model", "vanilla-cnn", "--data", "ds", "--image-size",
                "24", "--val", "0.25", "--batch", "2", "--epochs", "2", "--step-size", "1ep", "--quiet",
            ], in: dir)
        #expect(trained.status == 0, "\(trained.stderr)")
        #expect(trained.stdout.contains("graft ensemble --run 1 --minima"), "\(trained.stdout)")
        let shown = try CLI.graft(["runs", "show", "1", "--json"], in: dir)
        #expect(shown.stdout.contains(#""schedule" : "cosine_restarts""#), "\(shown.stdout)")
        #expect(shown.stdout.contains(#"\"baseLR\":0.1"#) && shown.stdout.contains(#"\"t0\":3"#))
        #expect(shown.stdout.contains(#"\"momentum\":0.9"#) && shown.stdout.contains(#"\"weight_decay\":0.0005"#))
        #expect(shown.stdout.contains(#""epochs_planned" : 2"#))
        let minima = try CLI.graft(["ckpt", "list", "--run", "1", "--minima", "--json"], in: dir)
        #expect(minima.stdout.components(separatedBy: #""minimum" : "yes""#).count - 1 == 2, "\(minima.stdout)")

        let unknown = try CLI.graft(["train", "--recipe", "nope", "--data", "ds"], in: dir)
        #expect(unknown.status != 0 && unknown.stderr.contains("unknown recipe 'nope'"), "\(unknown.stderr)")
    }
}
