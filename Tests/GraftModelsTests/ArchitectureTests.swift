import Testing
import GraftModels

/// `Architecture` owns names, block lists and minimum sizes; they must agree with the models.
@Suite struct ArchitectureTests {
    @Test("block names without building a model are the built model's", arguments: Architecture.allCases)
    func blockNamesMatchTheModel(architecture: Architecture) throws {
        let model = architecture.make(numClasses: 3)
        #expect(architecture.blockNames == model.blockNames)
        #expect(try architecture.blocks(from: "head") == ["head"])
        #expect(try architecture.blocks(from: model.blockNames[1]) == Array(model.blockNames.dropFirst()))
        #expect(throws: ModelError.unknownBlock("layer9", available: model.blockNames)) {
            try architecture.blocks(from: "layer9")
        }
    }

    @Test("names parse as configurations and cards write them")
    func names() throws {
        #expect(try Architecture(named: "ResNet34") == .resnet34)
        #expect(try Architecture(named: "vanilla_cnn") == .vanillaCNN)
        #expect(try Architecture(named: "vanillacnn") == .vanillaCNN)
        #expect { try Architecture(named: "resnet50") } throws: { error in
            error.localizedDescription == "unknown architecture 'resnet50'; known: resnet18, resnet34, vanilla-cnn"
        }
    }
}
