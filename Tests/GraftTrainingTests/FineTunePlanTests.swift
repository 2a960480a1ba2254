import Foundation
import GraftCatalog
import GraftData
import GraftModels
import GraftOptim
import GraftTensor
import Testing
import TestSupport

@testable import GraftTraining

/// `graft finetune`: fastai's `fine_tune` as one run with two phases, the head alone on the
/// frozen trunk and then the unfrozen blocks at discriminative rates, resumable across the phases.
struct FineTunePlanTests {
    static let resnetBlocks = ["stem", "layer1", "layer2", "layer3", "layer4", "head"]

    @Test func blockRatesAreEvenlySpacedOnALogScaleFromTheHeadDown() throws {
        var plan = FineTunePlan(epochs: 4, unfreeze: ["layer4", "layer3"])
        #expect(plan.unfrozenBlocks(blockNames: Self.resnetBlocks) == ["layer3", "layer4", "head"])
        // A block's rate is set by its place in the whole model: five steps from the stem to the head.
        let factors = plan.blockFactors(blockNames: Self.resnetBlocks)
        #expect(factors.keys.sorted() == ["layer3", "layer4"])
        #expect(abs(factors["layer3"]! - pow(100, -2.0 / 5)) < 1e-15)
        #expect(abs(factors["layer4"]! - pow(100, -1.0 / 5)) < 1e-15)
        // Every block: the stem at 1/lr_mult, each block above it a constant ratio higher.
        plan.unfreeze = Self.resnetBlocks
        plan.lrMult = 32
        let all = plan.blockFactors(blockNames: Self.resnetBlocks)
        let chain = ["stem", "layer1", "layer2", "layer3", "layer4"].map { all[$0]! } + [1]
        #expect(abs(chain[0] - 1.0 / 32) < 1e-15)
        for (low, high) in zip(chain, chain.dropFirst()) { #expect(abs(high / low - 2) < 1e-12) }
        // Only the head: nothing to spread.
        plan.unfreeze = ["head"]
        #expect(plan.blockFactors(blockNames: Self.resnetBlocks).isEmpty)
    }

    @Test func theRunGetsTwoPhasesWithFastaisSchedules() throws {
        let base = AutoLearningRateTests.configuration()
        let plan = FineTunePlan(epochs: 4, unfreeze: ["block4"])
        let blocks = ["block1", "block2", "block3", "block4", "head"]
        let config = try plan.configure(base, baseLR: 0.02, rule: "given", blockNames: blocks)
        let first = try #require(config.firstPhase)
        #expect(first.epochs == 1 && first.trainable == ["head"] && config.epochs == 5 && config.mainEpochs == 4)
        #expect(first.schedule.kind == .onecycle && first.schedule.lr == .rate(0.02) && first.schedule.pctStart == 0.99)
        #expect(config.trainable == ["block4", "head"])
        #expect(abs((config.blockLearningRateFactors["block4"] ?? 0) - pow(100, -0.25)) < 1e-15)
        #expect(config.schedule.lr == .rate(0.01) && config.schedule.divFactor == 5 && config.schedule.pctStart == 0.3)
        #expect(config.learningRateRule?.contains("half of phase 1's rate") == true)

        // A triangular phase 2: max/6 to max, half cycles of an eighth of its epochs (at least one).
        var cyclical = plan
        cyclical.schedule = .triangular
        let c = try cyclical.configure(base, baseLR: 0.06, rule: nil, blockNames: blocks)
        #expect(c.schedule.lr == .range(0.005, 0.03) && c.schedule.stepSize == .epochs(1))

        // Without a frozen phase the run is one phase.
        var direct = plan
        direct.freezeEpochs = 0
        #expect(try direct.configure(base, baseLR: 0.02, rule: nil, blockNames: blocks).firstPhase == nil)

        var wrong = plan
        wrong.unfreeze = ["layer4"]
        #expect(throws: TrainingError.self) { try wrong.configure(base, baseLR: 0.02, rule: nil, blockNames: blocks) }
        wrong = plan
        wrong.lrMult = 0.5
        #expect(throws: TrainingError.self) { try wrong.configure(base, baseLR: 0.02, rule: nil, blockNames: blocks) }
    }

    @Test func aPhasedScheduleRunsEachPhaseFromItsOwnStepZero() throws {
        let first = OneCycleLR(maxLR: 0.1, totalSteps: 10, pctStart: 0.99)
        let second = CyclicLR(baseLR: 0.01, maxLR: 0.05, stepSizeUp: 3, stepSizeDown: nil, mode: .triangular)
        let phased = PhasedSchedule([(first, 10), (second, 30)])
        for step in 0..<10 { #expect(phased.learningRate(at: step) == first.learningRate(at: step)) }
        for step in 10..<45 { #expect(phased.learningRate(at: step) == second.learningRate(at: step - 10)) }
        #expect(phased.momentum(at: 3) == first.momentum(at: 3))
        // The first phase's end is no snapshot: the minima and cycles are the second phase's.
        #expect(first.isMinimum(at: 10) && !phased.isMinimum(at: 10))
        #expect(phased.minima(upTo: 40) == [16, 22, 28, 34, 40])
        #expect(phased.isMinimum(at: 16) && !phased.isMinimum(at: 15))
        #expect(phased.cycleIndex(at: 5) == nil && phased.cycleIndex(at: 10) == 0 && phased.cycleIndex(at: 16) == 1)
    }

    /// A two-phase run of the vanilla CNN on the fixture photos: one epoch of the head, then two of
    /// block4 and the head, a checkpoint after every epoch.
    static func phasedRun() throws -> RunConfiguration {
        var base = AutoLearningRateTests.configuration()
        base.save.everyEpochs = 1
        var plan = FineTunePlan(epochs: 2, unfreeze: ["block4"])
        plan.lrMult = 10
        return try plan.configure(
            base, baseLR: 0.05, rule: nil, blockNames: ["block1", "block2", "block3", "block4", "head"])
    }

    @Test(.enabled(if: Fixtures.prerequisite.runs, Fixtures.prerequisite.comment))
    func theHeadPhaseFreezesTheTrunkAndAResumeCrossesIntoTheNextPhase() throws {
        let directory = try TemporaryDirectory.make("graft-finetune")
        defer { TemporaryDirectory.remove(directory) }
        let catalog = try Catalog.open(at: directory.appendingPathComponent("catalog.sqlite").path)
        let configuration = try Self.phasedRun()
        let run = TrainingRun(configuration: configuration, catalog: catalog)
        run.showProgress = false
        let summary = try run.start()
        #expect(summary.history.count == 3)

        // Which block each state key belongs to, from a fresh model (the run's starting weights).
        let initial = try TrainingRun.prepare(configuration, splitDirectory: catalog.splitsDirectory).model
        var blockOf: [String: String] = [:]
        let owners = Dictionary(
            initial.blocks.flatMap { block in
                block.modules.flatMap { m in m.namedParameters().map { (ObjectIdentifier($0.parameter), block.name) } }
            }, uniquingKeysWith: { a, _ in a })
        for (name, p) in initial.namedParameters() { blockOf[name] = owners[ObjectIdentifier(p)] }
        let start = initial.stateDict()
        func state(epoch: Int) throws -> StateDict {
            let record = try #require(
                try catalog.checkpoints(filter: CheckpointFilter(run: summary.runId)).map(\.checkpoint)
                    .first { $0.epoch == epoch })
            return try TrainingCheckpoint.read(try catalog.verifiedFile(for: record)).model
        }
        let afterHead = try state(epoch: 1)
        let afterAll = try state(epoch: 3)
        for (name, block) in blockOf.sorted(by: { $0.key < $1.key }) {
            switch block {
            case "head":
                #expect(afterHead[name] != start[name], "\(name) trains in phase 1")
            case "block4":
                #expect(afterHead[name] == start[name], "\(name) is frozen in phase 1")
                #expect(afterAll[name] != afterHead[name], "\(name) trains in phase 2")
            default:
                #expect(afterAll[name] == start[name], "\(name) stays frozen")
            }
        }

        // The catalog records both phases and the rule of each.
        let record = try catalog.run(id: summary.runId)
        #expect(record.epochsPlanned == 3 && record.freezeSpec == "block4,head")
        let phases = try #require(
            (try JSONSerialization.jsonObject(with: Data(record.scheduleParams.utf8)) as? [String: Any])?["phases"]
                as? [[String: Any]])
        #expect(phases.count == 2 && phases[0]["trainable"] as? [String] == ["head"])
        #expect((phases[1]["lrRule"] as? String)?.contains("half of phase 1's rate") == true)

        // Resumed from the end of phase 1, the run goes on into phase 2 exactly as it did.
        let resumed = try TrainingRun.resume(runId: summary.runId, epoch: 1, catalog: catalog, showProgress: false)
        #expect(resumed.history.map(\.trainLoss) == summary.history.map(\.trainLoss))
        #expect(resumed.history.map(\.validationLoss) == summary.history.map(\.validationLoss))
    }
}
