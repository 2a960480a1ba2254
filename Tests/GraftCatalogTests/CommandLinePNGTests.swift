import Foundation
import Testing
import TestSupport

/// `graft` on folders that mix PNGs with JPEGs, broken files among them.
@Suite(.serialized) struct CommandLinePNGTests {
    static let pngFixtures = Fixtures.packageRoot.appendingPathComponent("Tests/Fixtures/png")

    static func copyPNG(_ fixture: String, to url: URL) throws {
        try FileManager.default.copyItem(at: pngFixtures.appendingPathComponent("\(fixture).png"), to: url)
    }

    /// A PNG cut in half: its header reads, its image data ends early.
    static func writeCutPNG(to url: URL) throws {
        let whole = try Data(contentsOf: pngFixtures.appendingPathComponent("pillow_rgb.png"))
        try whole.prefix(whole.count / 2).write(to: url)
    }

    @Test(
        "predict reads PNGs beside JPEGs, names each bad file, predicts the rest and exits 1",
        .enabled(if: graftBinaryPrerequisite.runs, graftBinaryPrerequisite.comment))
    func predictMixedFolder() throws {
        let dir = try TemporaryDirectory.make("graft-cli-png")
        defer { TemporaryDirectory.remove(dir) }
        let converted = try CommandLineBadInputTests.graft(
            [
                "convert", Fixtures.url("resnet34/resnet34-random-seed0.pth").path,
                "--model", "resnet34", "--output", "r34.h5",
            ], in: dir)
        #expect(converted.status == 0, "\(converted.stderr)")
        let photos = dir.appendingPathComponent("photos")
        try FileManager.default.createDirectory(at: photos, withIntermediateDirectories: true)
        try Self.copyPNG("pillow_rgb", to: photos.appendingPathComponent("a.png"))
        try FileManager.default.copyItem(
            at: Fixtures.url("images/flower.jpg"), to: photos.appendingPathComponent("b.jpg"))
        try Self.copyPNG("gray16_adam7", to: photos.appendingPathComponent("c.PNG"))
        try Self.writeCutPNG(to: photos.appendingPathComponent("cut.png"))
        try Data("not a picture\n".utf8).write(to: photos.appendingPathComponent("notes.png"))

        let csv = try CommandLineBadInputTests.graft(
            ["predict", "--model", "resnet34", "--weights", "r34.h5", "--csv", "--top", "1", "--batch", "2", "photos"],
            in: dir)
        #expect(csv.status == 1)
        #expect(csv.stderr.contains("photos/cut.png") && csv.stderr.contains("truncated image"), "\(csv.stderr)")
        #expect(csv.stderr.contains("photos/notes.png") && csv.stderr.contains("plain text"), "\(csv.stderr)")
        #expect(csv.stderr.contains("2 of 5 images could not be read"), "\(csv.stderr)")
        let rows = csv.stdout.split(separator: "\n").dropFirst().map(String.init)
        let predicted = rows.compactMap { $0.split(separator: ",").first.map(String.init) }
        #expect(
            predicted == ["a.png", "b.jpg", "c.PNG"].map { photos.appendingPathComponent($0).path },
            "\(csv.stdout)")

        // A PNG alone: predicted, exit status 0.
        let single = try CommandLineBadInputTests.graft(
            ["predict", "--model", "resnet34", "--weights", "r34.h5", "--json", "--top", "1", "photos/a.png"], in: dir)
        #expect(single.status == 0, "\(single.stderr)")
        #expect(single.stdout.contains("photos/a.png\",\"top\""), "\(single.stdout)")
    }

    @Test(
        "data scan, split and stats read PNGs; scan --verify names a cut PNG",
        .enabled(if: graftBinaryPrerequisite.runs, graftBinaryPrerequisite.comment))
    func dataCommands() throws {
        let dir = try TemporaryDirectory.make("graft-cli-png-data")
        defer { TemporaryDirectory.remove(dir) }
        for (folder, fixtures) in [("a", ["rgb8", "palette8", "gray16"]), ("b", ["rgba8", "gray_alpha8", "rgb16"])] {
            let classFolder = dir.appendingPathComponent("ds/\(folder)")
            try FileManager.default.createDirectory(at: classFolder, withIntermediateDirectories: true)
            for (i, fixture) in fixtures.enumerated() {
                try Self.copyPNG(fixture, to: classFolder.appendingPathComponent("\(i).png"))
            }
            try FileManager.default.copyItem(
                at: Fixtures.url("images/flower_444.jpg"), to: classFolder.appendingPathComponent("photo.jpg"))
        }
        try Self.writeCutPNG(to: dir.appendingPathComponent("ds/b/cut.png"))

        let quick = try CommandLineBadInputTests.graft(["data", "scan", "ds"], in: dir)
        #expect(quick.status == 0 && quick.stdout.hasPrefix("9 images in 2 classes"), "\(quick.stdout)")
        let verified = try CommandLineBadInputTests.graft(["data", "scan", "ds", "--verify"], in: dir)
        #expect(verified.stdout.hasPrefix("8 images in 2 classes"), "\(verified.stdout)")
        #expect(
            verified.stdout.contains("unreadable: 1") && verified.stdout.contains("ds/b/cut.png"), "\(verified.stdout)")

        let split = try CommandLineBadInputTests.graft(["data", "split", "ds", "--val", "0.25"], in: dir)
        #expect(split.status == 0 && split.stderr.contains("cut.png"), "\(split.stderr)")
        let file = try JSONDecoder().decode(
            CommandLineBadInputTests.SplitFile.self,
            from: Data(contentsOf: dir.appendingPathComponent("ds/.graft-split.json")))
        #expect(
            Set(file.train + file.val) == [
                "a/0.png", "a/1.png", "a/2.png", "a/photo.jpg", "b/0.png", "b/1.png", "b/2.png", "b/photo.jpg",
            ])
        let stats = try CommandLineBadInputTests.graft(["data", "stats", "ds"], in: dir)
        #expect(stats.status == 0 && stats.stdout.contains("\(file.train.count) training images"), "\(stats.stdout)")
    }
}
