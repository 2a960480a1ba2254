import Foundation
import Testing
import TestSupport
@testable import GraftZoo

/// The zoo is found wherever a command runs, and the ResNet cards carry ImageNet's class names.
@Suite struct ZooLocationTests {
    /// Running `graft` from another directory is tested through the binary
    /// (`CommandLineBadInputTests`): changing this process's working directory would race with
    /// the tests running beside this one.
    @Test("the shipped zoo is the package's Models/, found without the working directory")
    func shippedZoo() throws {
        // A weights directory without published cards: only the shipped ones.
        let noWeights = FileManager.default.temporaryDirectory.appendingPathComponent("graft-no-weights-\(getpid())")
        let zoo = try Zoo.shipped(weightsDirectory: noWeights)
        #expect(zoo.ids == ["resnet18", "resnet34", "vanilla-cnn"])
        #expect(
            zoo.directory.standardizedFileURL
                == Fixtures.packageRoot.appendingPathComponent("Models").standardizedFileURL)
    }

    @Test("ResNet cards name ImageNet's 1,000 classes in torchvision's order")
    func imageNetClassNames() throws {
        let zoo = try Zoo.load(directory: Fixtures.packageRoot.appendingPathComponent("Models"))
        for id in ["resnet18", "resnet34"] {
            let names = try zoo.classNames(of: try zoo.card(id: id))
            #expect(names.count == 1000)
            #expect(names.first == "tench" && names[785] == "seat belt" && names.last == "toilet tissue")
            #expect(Set(names).count == 1000)
        }
        #expect(try zoo.classNames(of: try zoo.card(id: "vanilla-cnn")).isEmpty)
    }

    @Test("a card whose class-names file is missing or short is refused when the zoo loads")
    func badClassNamesFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("graft-zoo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var card = try String(
            contentsOf: Fixtures.packageRoot.appendingPathComponent("Models/resnet34.json"), encoding: .utf8)
        card = card.replacingOccurrences(of: "imagenet-classes.txt", with: "names.txt")
        try card.write(to: dir.appendingPathComponent("resnet34.json"), atomically: true, encoding: .utf8)
        #expect { try Zoo.load(directory: dir) } throws: { "\($0.localizedDescription)".contains("names.txt") }
        try "tench\ngoldfish\n".write(to: dir.appendingPathComponent("names.txt"), atomically: true, encoding: .utf8)
        #expect { try Zoo.load(directory: dir) } throws: { error in
            error.localizedDescription.contains("names.txt")
                && error.localizedDescription.contains("2 names for 1000 classes")
        }
    }

    @Test("a card for an architecture Graft cannot build is refused")
    func unbuildableArchitecture() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("graft-zoo50-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var card = try String(
            contentsOf: Fixtures.packageRoot.appendingPathComponent("Models/resnet18.json"), encoding: .utf8)
        card = card.replacingOccurrences(of: "\"depth\": 18", with: "\"depth\": 50")
        #expect(card.contains("\"depth\": 50"))
        try card.write(to: dir.appendingPathComponent("resnet50.json"), atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(
            at: Fixtures.packageRoot.appendingPathComponent("Models/imagenet-classes.txt"),
            to: dir.appendingPathComponent("imagenet-classes.txt"))
        #expect { try Zoo.load(directory: dir) } throws: { error in
            error.localizedDescription.contains("resnet50.json") && error.localizedDescription.contains("'depth'")
                && error.localizedDescription.contains("18, 34, got 50")
        }
    }
}
