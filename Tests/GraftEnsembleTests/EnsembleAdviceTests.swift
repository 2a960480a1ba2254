import Foundation
import Testing
import GraftCatalog
import GraftTraining
@testable import GraftEnsemble

/// Member diversity, the advisor's choice, and the warning for members taken away from a
/// learning-rate minimum.
@Suite struct EnsembleAdviceTests {
    @Test("identical members: no disagreement, correlation 1; mirrored members: full disagreement, correlation -1")
    func diversityMatrices() {
        // Two classes, three samples; member c predicts 1 − p of member a.
        let a: [Float] = [0.9, 0.1, 0.3, 0.7, 0.6, 0.4]
        let c: [Float] = a.map { 1 - $0 }
        let d = EnsembleDiversity(probabilities: [a, a, c], classes: 2)
        #expect(d.disagreement[0][1] == 0 && d.disagreement[0][2] == 1 && d.disagreement[2][1] == 1)
        #expect(abs(d.correlation[0][1] - 1) < 1e-12 && abs(d.correlation[0][2] + 1) < 1e-12)
        #expect(d.disagreement.indices.allSatisfy { d.disagreement[$0][$0] == 0 && d.correlation[$0][$0] == 1 })
        #expect(abs(d.meanDisagreement! - 2.0 / 3) < 1e-12)

        // One sample of three flips class: disagreement 1/3.
        let b: [Float] = [0.9, 0.1, 0.3, 0.7, 0.4, 0.6]
        let e = EnsembleDiversity(probabilities: [a, b], classes: 2)
        #expect(abs(e.disagreement[0][1] - 1.0 / 3) < 1e-12)
        #expect(e.correlation[0][1] > 0.8 && e.correlation[0][1] < 1)
    }

    static func evaluation(members: [Double], probs: Double, swa: Double) -> EnsembleEvaluation {
        let list = members.enumerated().map { i, accuracy in
            EnsembleEvaluation.Member(
                member: EnsembleMember(
                    name: "ckpt \(i + 1)", checkpointId: Int64(i + 1),
                    url: URL(fileURLWithPath: "/m\(i)")),
                accuracy: accuracy, loss: 1)
        }
        let best = members.indices.max { members[$0] < members[$1] }!
        func outcome(_ method: EnsembleMethod, _ accuracy: Double) -> EnsembleEvaluation.Outcome {
            .init(
                label: method.rawValue, method: method, greedy: false, selected: Array(members.indices),
                accuracy: accuracy,
                loss: nil, bestSingleAccuracy: members[best], accuracyBySize: [accuracy])
        }
        return EnsembleEvaluation(
            members: list, outcomes: [outcome(.probs, probs), outcome(.swa, swa)], samples: 1000,
            classes: 10, bestMember: best, batchNormBatches: 0,
            diversity: EnsembleDiversity(disagreement: [], correlation: []))
    }

    @Test("the ensemble is chosen on validation when it pays, and reported on test")
    func ensembleChosen() {
        let validation = Self.evaluation(members: [0.90, 0.92], probs: 0.94, swa: 0.91)
        let test = Self.evaluation(members: [0.89, 0.915], probs: 0.93, swa: 0.90)
        let advice = EnsembleAdvice.advise(validation: validation, test: test)
        #expect(advice.choice.kind == .ensemble && advice.choice.label == "probs")
        #expect(advice.choice.testAccuracy == 0.93)
        #expect(advice.candidates.map(\.label) == ["ckpt 2", "probs", "swa"])
        #expect(advice.summary.contains("On test: 93.00% against 91.50%") && advice.summary.contains("+1.50 points"))
    }

    @Test("the advisor says plainly when the ensemble does not pay; a tie goes to the single checkpoint")
    func bestSingleChosen() {
        let worse = EnsembleAdvice.advise(
            validation: Self.evaluation(members: [0.88, 0.87], probs: 0.87, swa: 0.872), test: nil)
        #expect(worse.choice.kind == .bestSingle && worse.choice.label == "ckpt 1")
        #expect(worse.summary.contains("does not pay") && worse.summary.contains("No test split"))
        let tie = EnsembleAdvice.advise(
            validation: Self.evaluation(members: [0.88, 0.87], probs: 0.88, swa: 0.88), test: nil)
        #expect(tie.choice.kind == .bestSingle)
        let swaOverEnsemble = EnsembleAdvice.advise(
            validation: Self.evaluation(members: [0.8], probs: 0.85, swa: 0.85), test: nil)
        #expect(swaOverEnsemble.choice.kind == .swa, "SWA is one model: it wins a tie with an ensemble")
    }

    /// `evaluation(members:probs:swa:)` under flip TTA, with `plain` the same figures without it.
    static func augmented(
        members: [Double], probs: Double, swa: Double, plain: (members: [Double], probs: Double, swa: Double),
        cost: Double = 2
    ) -> EnsembleEvaluation {
        var e = evaluation(members: members, probs: probs, swa: swa)
        let best = plain.members.indices.max { plain.members[$0] < plain.members[$1] }!
        e.testTimeAugmentation = .init(
            augmentation: .flip, memberAccuracy: plain.members, memberLoss: plain.members.map { _ in 1 },
            bestMember: best, outcomeAccuracy: [plain.probs, plain.swa], outcomeLoss: [nil, nil],
            secondsPerImage: 0.001, augmentedSecondsPerImage: 0.001 * cost)
        return e
    }

    @Test("TTA is recommended when it gains on validation, and its gain and cost are reported")
    func augmentationPays() throws {
        let validation = Self.augmented(
            members: [0.90, 0.93], probs: 0.94, swa: 0.92, plain: ([0.90, 0.91], 0.93, 0.915))
        let advice = EnsembleAdvice.advise(validation: validation, test: nil)
        #expect(advice.choice.label == "probs + tta flip" && advice.choice.augmentation == .flip)
        #expect(
            advice.candidates.map(\.label) == [
                "ckpt 2", "probs", "swa", "ckpt 2 + tta flip", "probs + tta flip", "swa + tta flip",
            ])
        let tta = try #require(advice.testTimeAugmentation)
        #expect(tta.recommended && abs(tta.costFactor - 2) < 1e-9)
        #expect(tta.gains.map(\.label) == ["ckpt 2", "probs", "swa"])
        #expect(abs(tta.gains[0].points - 2) < 1e-9 && abs(tta.gains[1].points - 1) < 1e-9)
        #expect(
            advice.summary.contains(
                "Test-time augmentation (flip, 2 views) on validation: ckpt 2 91.00% → 93.00% (+2.00 points)"))
        #expect(advice.summary.contains("2.0× the inference time") && advice.summary.contains("It pays"))
    }

    @Test("TTA that only ties is not recommended: the cheaper model wins")
    func augmentationDoesNotPay() {
        let validation = Self.augmented(
            members: [0.90, 0.91], probs: 0.93, swa: 0.90, plain: ([0.90, 0.91], 0.93, 0.90))
        let advice = EnsembleAdvice.advise(validation: validation, test: nil)
        #expect(advice.choice.label == "probs" && advice.choice.augmentation == nil)
        #expect(advice.testTimeAugmentation?.recommended == false)
        #expect(advice.summary.contains("It does not pay here"))
        // A single checkpoint with TTA beats a plain ensemble only by being more accurate.
        let single = EnsembleAdvice.advise(
            validation: Self.augmented(
                members: [0.90, 0.95], probs: 0.94, swa: 0.90, plain: ([0.90, 0.91], 0.94, 0.90), cost: 10),
            test: nil)
        #expect(single.choice.label == "ckpt 2 + tta flip")
    }

    @Test("test figures never change the choice or the TTA advice")
    func augmentationChosenOnValidationOnly() {
        let validation = Self.augmented(
            members: [0.90, 0.92], probs: 0.93, swa: 0.90, plain: ([0.90, 0.91], 0.93, 0.90))
        let testA = Self.augmented(members: [0.5, 0.99], probs: 0.99, swa: 0.99, plain: ([0.1, 0.1], 0.1, 0.1))
        let testB = Self.augmented(members: [0.99, 0.1], probs: 0.1, swa: 0.1, plain: ([0.99, 0.99], 0.99, 0.99))
        let a = EnsembleAdvice.advise(validation: validation, test: testA)
        let b = EnsembleAdvice.advise(validation: validation, test: testB)
        let none = EnsembleAdvice.advise(validation: validation, test: nil)
        for advice in [a, b] {
            #expect(
                advice.choice.label == none.choice.label
                    && advice.choice.validationAccuracy == none.choice.validationAccuracy)
            #expect(advice.candidates.map(\.validationAccuracy) == none.candidates.map(\.validationAccuracy))
            #expect(advice.testTimeAugmentation?.recommended == none.testTimeAugmentation?.recommended)
            #expect(advice.testTimeAugmentation?.gains == none.testTimeAugmentation?.gains)
        }
        // Test figures are reported beside the candidates: the plain ones from the plain pass.
        #expect(a.candidates.first { $0.label == "probs" }?.testAccuracy == 0.1)
        #expect(a.candidates.first { $0.label == "probs + tta flip" }?.testAccuracy == 0.99)
    }

    @Test("members saved away from a learning-rate minimum are named in a warning")
    func offMinimumMembers() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("graft-advice-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let catalog = try Catalog.open(at: dir.appendingPathComponent("catalog.sqlite").path)
        let run = try catalog.createRun(
            RunRecord(modelId: "vanilla-cnn", optimizer: "sgd", batchSize: 8, epochsPlanned: 4))
        var members: [EnsembleMember] = []
        for (epoch, minimum) in [(2, true), (3, false), (4, true)] {
            let record = try catalog.saveCheckpoint(
                CheckpointRecord(
                    runId: run.id!, epoch: epoch, globalStep: Int64(epoch * 10), lr: minimum ? 1e-4 : 3e-3,
                    isMinimum: minimum, reasons: minimum ? [.minimum] : [.best])
            ) { try Data("x\(epoch)".utf8).write(to: $0) }
            members.append(EnsembleMember(name: "ckpt \(record.id!)", checkpointId: record.id, url: dir, epoch: epoch))
        }
        let warnings = try EnsembleJob.snapshotWarnings(members, catalog: catalog)
        #expect(warnings.count == 1)
        #expect(warnings.first?.hasPrefix("\(members[1].name) (run \(run.id!), epoch 3") == true)
        #expect(warnings.first?.contains("not taken at a learning-rate minimum (saved as: best)") == true)
    }
}
