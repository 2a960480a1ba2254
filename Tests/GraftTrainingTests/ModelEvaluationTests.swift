import Foundation
import GraftCatalog
import GraftData
import GraftNN
import GraftTensor
import GraftOptim
import GraftWeights
import Testing
import TestSupport

@testable import GraftTraining

/// `graft evaluate`'s library side: a checkpoint scored on its own validation split gives the
/// figures training recorded for it; a test folder must hold the model's classes.
struct ModelEvaluationTests {
    /// Two epochs of the vanilla CNN on the fixture photos (32², 4 a batch).
    static func train(in catalog: Catalog, checkpointEveryEpoch: Bool = false) throws -> RunSummary {
        var data = DataSpecification(source: Fixtures.url("imagefolder").path, imageSize: 32)
        data.mean = [0.5, 0.5, 0.5]
        data.std = [0.25, 0.25, 0.25]
        var configuration = RunConfiguration(
            modelId: "vanilla-cnn", architecture: "vanilla-cnn", weights: nil, data: data,
            optimizer: OptimizerConfig(kind: .adam), trainable: ["block3", "block4", "head"], epochs: 2,
            batchSize: 4, seed: 1)
        if checkpointEveryEpoch { configuration.save.everyEpochs = 1 }
        let run = TrainingRun(configuration: configuration, catalog: catalog)
        run.showProgress = false
        return try run.start()
    }

    @Test func aCheckpointOnItsValidationSplitGivesWhatTrainingRecorded() throws {
        let directory = try TemporaryDirectory.make("graft-evaluate")
        defer { TemporaryDirectory.remove(directory) }
        let catalog = try Catalog.open(at: directory.appendingPathComponent("catalog.sqlite").path)
        let summary = try Self.train(in: catalog)
        let checkpoint = try catalog.checkpoint(id: try #require(summary.checkpointIds.last))

        let scored = try ModelUnderEvaluation.checkpoint(checkpoint.id!, in: catalog)
        #expect(scored.classNames == ["daisy", "rose", "tulip"])
        let validation = try scored.batches(of: .validationSplit, splitDirectory: catalog.splitsDirectory, batchSize: 2)
        let metrics = try Evaluation.classify(scored.model, on: validation, classNames: scored.classNames)
        #expect(metrics.count == 3)
        #expect(metrics.accuracy == checkpoint.valAcc)
        #expect(abs(metrics.logLoss - checkpoint.valLoss!) <= 1e-5 * max(1, checkpoint.valLoss!))
        #expect(metrics.confusion.map { $0.reduce(0, +) } == [1, 1, 1], "one validation photo a class")

        // The whole folder, every photo, labelled by the model's classes.
        let folder = try scored.batches(of: .folder(Fixtures.url("imagefolder")), splitDirectory: nil, batchSize: 5)
        #expect(folder.sampleCount == 12)
        #expect(try Evaluation.classify(scored.model, on: folder, classNames: scored.classNames).count == 12)

        // A folder of other classes is refused, naming what differs.
        let other = directory.appendingPathComponent("other")
        for (source, name) in [("daisy", "daisy"), ("rose", "lily")] {
            try FileManager.default.createDirectory(
                at: other.appendingPathComponent(name), withIntermediateDirectories: true)
            try FileManager.default.copyItem(
                at: Fixtures.url("imagefolder/\(source)/\(source)_00.jpg"),
                to: other.appendingPathComponent("\(name)/\(name).jpg"))
        }
        #expect(throws: DataError.classMismatch(path: other.path, missing: ["rose", "tulip"], extra: ["lily"])) {
            try scored.batches(of: .folder(other), splitDirectory: nil, batchSize: 2)
        }
        // A weights file has no validation split.
        let weights = directory.appendingPathComponent("model.h5")
        try TrainingCheckpoint.export(checkpoint: checkpoint.id!, from: catalog, to: weights)
        #expect(throws: TrainingError.self) {
            try ModelUnderEvaluation.weights(weights).batches(of: .validationSplit, splitDirectory: nil, batchSize: 2)
        }
    }

    @Test func aCatalogEnsembleIsScoredAsItsMembersAveraged() throws {
        let directory = try TemporaryDirectory.make("graft-evaluate-ensemble")
        defer { TemporaryDirectory.remove(directory) }
        let catalog = try Catalog.open(at: directory.appendingPathComponent("catalog.sqlite").path)
        let ids = Array(try Self.train(in: catalog, checkpointEveryEpoch: true).checkpointIds.suffix(2))
        try #require(ids.count == 2 && ids[0] != ids[1])
        let members = try ids.map { try ModelUnderEvaluation.checkpoint($0, in: catalog) }
        for member in members { member.model.eval() }
        let validation = try members[0].batches(
            of: .validationSplit, splitDirectory: catalog.splitsDirectory, batchSize: 3)

        for (method, average) in [("probs", AveragingEnsemble.Average.probabilities), ("logits", .logits)] {
            let stored = try catalog.saveEnsemble(
                EnsembleRecord(runId: nil, method: method + "+greedy", memberCheckpointIds: ids, accuracy: 0),
                members: [])
            let scored = try ModelUnderEvaluation.ensemble(stored.ensemble.id!, in: catalog)
            scored.model.eval()
            #expect(scored.ensembleId == stored.ensemble.id && scored.classNames == members[0].classNames)
            // Brute force: each member's output on the same batch, averaged by hand.
            let batch = try #require(try validation.batches(epoch: 0, startingAt: 0).next())
            let outputs = members.map { $0.model(batch.images) }
            let terms = average == .logits ? outputs : outputs.map(CrossEntropy.softmax)
            let expected = zip(terms[0].scalars, terms[1].scalars).map { ($0 + $1) / 2 }
            let got = CrossEntropy.softmax(scored.model(batch.images)).scalars
            let reference =
                average == .logits
                ? CrossEntropy.softmax(Tensor(shape: terms[0].shape, scalars: expected)).scalars : expected
            let worst = zip(got, reference).map { abs($0 - $1) }.max() ?? 1
            #expect(worst < 1e-6, "\(method): \(worst)")
        }
        let vote = try catalog.saveEnsemble(
            EnsembleRecord(runId: nil, method: "vote", memberCheckpointIds: ids, accuracy: 0), members: [])
        #expect(throws: TrainingError.self) { try ModelUnderEvaluation.ensemble(vote.ensemble.id!, in: catalog) }
    }
}
