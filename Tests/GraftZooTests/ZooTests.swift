import Foundation
import Testing
import TestSupport
@testable import GraftZoo

@Suite("model cards and the zoo")
struct ZooTests {
    static let modelsDirectory = Fixtures.packageRoot.appendingPathComponent("Models")

    @Test func repositoryCardsLoadAndValidate() throws {
        let zoo = try Zoo.load(directory: Self.modelsDirectory)
        #expect(zoo.ids == ["resnet18", "resnet34", "vanilla-cnn"])
        let r34 = try zoo.card(id: "resnet34")
        #expect(r34.modelArchitecture == "resnet34")
        #expect(r34.source?.file == "resnet34-b627a593.pth")
        // torchvision names files by the first 8 hex digits of their SHA-256.
        for card in zoo.cards {
            guard let source = card.source else { continue }
            let nameHash = source.file.split(separator: "-").last!.replacingOccurrences(of: ".pth", with: "")
            #expect(source.sha256Prefix == nameHash)
            #expect(source.sha256?.hasPrefix(nameHash) == true)
            #expect(card.license == "BSD-3-Clause")
        }
        #expect(r34.accuracy?.top1 == 73.314)
        #expect(try zoo.card(id: "resnet18").accuracy?.top1 == 69.758)
        #expect(try zoo.card(id: "vanilla-cnn").source == nil)
        #expect(throws: ZooError.unknownModel(id: "resnet50", known: zoo.ids)) { try zoo.card(id: "resnet50") }
    }

    /// Writes a variant of the resnet34 card with one change and returns the load error.
    func error(editing edit: (inout [String: Any]) -> Void) throws -> String {
        let dir = try TemporaryDirectory.make("graft-zoo")
        defer { TemporaryDirectory.remove(dir) }
        let original = try Data(contentsOf: Self.modelsDirectory.appendingPathComponent("resnet34.json"))
        var json = try JSONSerialization.jsonObject(with: original) as! [String: Any]
        edit(&json)
        let url = dir.appendingPathComponent("card.json")
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        do {
            _ = try ModelCard.load(url)
            return "loaded"
        } catch let error as ZooError {
            let message = error.localizedDescription
            #expect(message.contains(url.path), "\(message)")
            return message
        }
    }

    @Test func invalidCardsNameTheField() throws {
        #expect(try error { $0.removeValue(forKey: "mean") }.contains("'mean': is missing"))
        #expect(try error { $0["depth"] = 35 }.contains("'depth'"))
        #expect(try error { $0["architecture"] = "vgg" }.contains("'architecture'"))
        #expect(try error { $0["num_classes"] = "many" }.contains("'num_classes'"))
        #expect(try error { $0["class_names"] = ["a", "b"] }.contains("'class_names': has 2 names for 1000 classes"))
        #expect(try error { $0["std"] = [0.2, 0, 0.2] }.contains("'std'"))
        #expect(try error { $0["input_size"] = [224, 224] }.contains("'input_size'"))
        #expect(
            try error {
                var source = $0["source"] as! [String: Any]
                source["sha256"] = "1234"
                $0["source"] = source
            }.contains("'source.sha256'"))
        #expect(
            try error {
                var source = $0["source"] as! [String: Any]
                source["sha256_prefix"] = "deadbeef"
                $0["source"] = source
            }.contains("'source.sha256_prefix'"))
    }

    @Test func duplicateIdsAreRejected() throws {
        let dir = try TemporaryDirectory.make("graft-zoo")
        defer { TemporaryDirectory.remove(dir) }
        let card = try Data(contentsOf: Self.modelsDirectory.appendingPathComponent("resnet18.json"))
        try card.write(to: dir.appendingPathComponent("a.json"))
        try card.write(to: dir.appendingPathComponent("b.json"))
        #expect(throws: ZooError.self) { try Zoo.load(directory: dir) }
    }
}
