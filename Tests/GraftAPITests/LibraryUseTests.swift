import Foundation
import Graft
import Testing

/// The README's "Graft from Swift" snippets, through `import Graft` alone: if the documented API
/// drifts, this target stops compiling. Each runs on the fixture photos at 32², for a few steps.
@Suite(.serialized) struct LibraryUseTests {
    /// Three classes of four photos, in `../shared/fixtures`.
    static let photos = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("../shared/fixtures/imagefolder").standardizedFileURL

    /// README: "Fine-tune on a folder".
    func fineTune() throws -> FineTuned {
        let zoo = try Zoo.shipped()
        var tuning = try FineTuning(model: zoo.card(id: "vanilla-cnn"), data: .imageFolder(Self.photos), imageSize: 32)
        tuning.trainable = [.block3, .block4, .head]
        tuning.optimizer = OptimizerConfig(kind: .adam)
        tuning.schedule = .triangular(1e-4, 1e-3, stepSize: .epochs(1))
        tuning.batchSize = 4
        var epochs: [Int] = []
        let tuned = try tuning.fit(epochs: 4) { event in
            if case .epochEnded(let metrics, _, _) = event { epochs.append(metrics.epoch) }
        }
        #expect(epochs == [1, 2, 3, 4])
        return tuned
    }

    @Test("fine-tune, query, ensemble and predict through import Graft")
    func theDocumentedJobs() throws {
        let tuned = try fineTune()
        #expect(tuned.summary.history.count == 4)
        let evaluation = try tuned.evaluate()
        #expect(evaluation.count == 3, "a quarter of 12 photos is validation")
        #expect(abs(evaluation.accuracy - (tuned.summary.bestValidationAccuracy ?? -1)) < 1e-9)

        // README: "Query checkpoints".
        let catalog = tuned.catalog
        let best = try catalog.bestCheckpoints(by: .valAcc, perOptimizer: true)
        #expect(best.map(\.optimizer) == ["adam"])

        // README: "A snapshot ensemble": the checkpoints at the two cycle minima.
        let ensemble = try tuned.ensemble(minimaOnly: true, methods: [.probs, .swa])
        #expect(ensemble.evaluation.members.count == 2)
        #expect(ensemble.evaluation.outcomes.map(\.method) == [.probs, .swa])

        // README: "Predict a photo".
        let predictor = try tuned.predictor()
        let photo = Self.photos.appendingPathComponent("rose/rose_00.jpg")
        let prediction = try #require(try predictor.predict([photo], top: 3).first)
        #expect(Set(prediction.top.map(\.className)) == ["daisy", "rose", "tulip"])
        #expect(abs(prediction.top.map(\.probability).reduce(0, +) - 1) < 1e-5)
    }

    @Test("a block the model does not have is refused before any data is read, naming it")
    func unknownBlock() throws {
        var tuning = try FineTuning(
            model: try Zoo.shipped().card(id: "vanilla-cnn"), data: .imageFolder(URL(fileURLWithPath: "/nonexistent")),
            imageSize: 32)
        tuning.trainable = [.layer4, .head]
        #expect(throws: ModelError.unknownBlock("layer4", available: ["block1", "block2", "block3", "block4", "head"]))
        {
            try tuning.fit(epochs: 1)
        }
    }

    /// README: step 4 of the walkthrough in Swift. Compiled, not run: it needs the flowers and the
    /// converted weights.
    func walkthroughStep4() throws -> FineTuned {
        let zoo = try Zoo.shipped()
        var tuning = try FineTuning(
            model: zoo.card(id: "resnet34"), weights: URL(fileURLWithPath: "Weights/resnet34.h5"),
            data: .imageFolder(URL(fileURLWithPath: "flowers")))
        tuning.trainable = [.layer4, .head]
        tuning.optimizer.momentum = 0.9
        tuning.schedule = .triangular(5e-4, 3e-3, stepSize: .epochs(4))
        tuning.catalog = try Catalog.open(at: Catalog.defaultPath)
        let tuned = try tuning.fit(epochs: 40) { event in print(event) }
        return tuned
    }

    /// README: step 4 of the walkthrough as it is, `graft finetune`, in Swift. Compiled, not run.
    func walkthroughStep4FineTune() throws -> FineTuned {
        let zoo = try Zoo.shipped()
        var tuning = try FineTuning(
            model: zoo.card(id: "resnet34"), weights: URL(fileURLWithPath: "Weights/resnet34.h5"),
            data: .imageFolder(URL(fileURLWithPath: "flowers")))
        tuning.optimizer.momentum = 0.9
        tuning.configuration.earlyStopping = EarlyStopping(patience: 2)
        tuning.catalog = try Catalog.open(at: Catalog.defaultPath)
        var plan = FineTunePlan(epochs: 40, unfreeze: ["layer4"])
        plan.freezeEpochs = 2
        plan.schedule = .triangular
        plan.stepSize = .epochs(4)
        let tuned = try tuning.fineTune(plan) { event in print(event) }
        return tuned
    }

    @Test("fastai's fine_tune through import Graft: the rate from a range test, two phases in one run")
    func fineTuneInOneCall() throws {
        var tuning = try FineTuning(
            model: try Zoo.shipped().card(id: "vanilla-cnn"), data: .imageFolder(Self.photos), imageSize: 32)
        tuning.batchSize = 4
        var plan = FineTunePlan(epochs: 2, unfreeze: ["block4"])
        plan.schedule = .triangular
        plan.stepSize = .epochs(1)
        let tuned = try tuning.fineTune(plan)
        #expect(tuned.summary.history.count == 3)
        let phase = try #require(tuned.configuration.firstPhase)
        #expect(phase.trainable == ["head"] && tuned.configuration.trainable == ["block4", "head"])
        let source = try #require(tuned.configuration.learningRateSource, "the rate came from a range test")
        #expect(try tuned.catalog.lrRangeTest(id: source.lrRangeTestId).test.runId == tuned.runId)
        // The snapshot at the second phase's one cycle end, after epoch 3; none at the first phase's end.
        let minima = try tuned.catalog.checkpoints(filter: CheckpointFilter(run: tuned.runId, minimaOnly: true))
        #expect(minima.map(\.checkpoint.epoch) == [3])
    }

    @Test("every swift block of the README's library section is code that make test compiles")
    func readmeSnippetsAreCompiledCode() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(
            readme.range(of: "<!-- library: begin").flatMap { begin in
                readme.range(of: "<!-- library: end -->", range: begin.upperBound..<readme.endIndex).map {
                    readme[begin.upperBound..<$0.lowerBound]
                }
            })
        let blocks = section.components(separatedBy: "```swift\n").dropFirst().map {
            $0.components(separatedBy: "```")[0]
        }
        #expect(blocks.count == 6)
        func lines(_ text: some StringProtocol) -> [String] {
            text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        var sources: [URL] = [URL(fileURLWithPath: #filePath)]
        let examples = root.appendingPathComponent("Examples/Sources")
        for name in try FileManager.default.contentsOfDirectory(atPath: examples.path) {
            sources.append(examples.appendingPathComponent(name).appendingPathComponent("main.swift"))
        }
        let compiled = try sources.map { lines(try String(contentsOf: $0, encoding: .utf8)) }
        for block in blocks {
            let wanted = lines(block)
            let found = compiled.contains { file in
                file.count >= wanted.count
                    && (0...(file.count - wanted.count)).contains { Array(file[$0..<($0 + wanted.count)]) == wanted }
            }
            #expect(found, "README block not found in compiled code:\n\(block)")
        }
    }
}
