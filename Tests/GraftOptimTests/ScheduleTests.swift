import Foundation
import Testing
import TestSupport
@testable import GraftOptim

/// Builds the schedule a fixture's PyTorch configuration describes.
private func schedule(from f: ScheduleFixture) throws -> any LRSchedule {
    let c = f.config
    func d(_ key: String) throws -> Double { try #require(c[key]?.double, "\(key) in \(f.scheduler)") }
    func i(_ key: String) throws -> Int { try #require(c[key]?.int, "\(key) in \(f.scheduler)") }
    switch f.scheduler {
    case "CyclicLR":
        guard case .string(let modeName) = c["mode"], let mode = CyclicLR.Mode(rawValue: modeName) else {
            throw FixtureLayoutError(description: "mode")
        }
        let momentum =
            c["cycle_momentum"] == .bool(true)
            ? MomentumRange(base: try d("base_momentum"), max: try d("max_momentum")) : nil
        return CyclicLR(
            baseLR: try d("base_lr"), maxLR: try d("max_lr"), stepSizeUp: try i("step_size_up"),
            stepSizeDown: c["step_size_down"]?.int, mode: mode, gamma: try d("gamma"),
            momentumRange: momentum)
    case "OneCycleLR":
        guard case .string(let anneal) = c["anneal_strategy"], let strategy = OneCycleLR.Anneal(rawValue: anneal) else {
            throw FixtureLayoutError(description: "anneal_strategy")
        }
        let momentum =
            c["cycle_momentum"] == .bool(true)
            ? MomentumRange(base: try d("base_momentum"), max: try d("max_momentum")) : nil
        return OneCycleLR(
            maxLR: try d("max_lr"), totalSteps: try i("total_steps"), pctStart: try d("pct_start"),
            anneal: strategy, divFactor: try d("div_factor"), finalDivFactor: try d("final_div_factor"),
            threePhase: c["three_phase"] == .bool(true), momentumRange: momentum)
    case "CosineAnnealingWarmRestarts":
        let base = try #require(f.optimizer_config["lr"]?.double)
        return CosineAnnealingWarmRestarts(
            baseLR: base, t0: try i("T_0"), tMult: try i("T_mult"), etaMin: try d("eta_min"))
    case "LambdaLR" where c["stepsize"] != nil:
        return BlogCyclicalLR(minLR: try d("min_lr"), maxLR: try d("max_lr"), stepSize: try i("stepsize"))
    case "LambdaLR":
        return ExponentialSweepLR(startLR: try d("start_lr"), endLR: try d("end_lr"), total: try i("total"))
    default:
        throw FixtureLayoutError(description: "unknown scheduler \(f.scheduler)")
    }
}

struct FixtureLayoutError: Error, CustomStringConvertible { var description: String }

@Suite struct ScheduleFixtureTests {
    static let files: [String] = (try? fixtureFiles("schedules", ext: "json")) ?? []

    @Test func allFixturesArePresent() { #expect(Self.files.count == 8) }

    /// Same operation order as PyTorch, so the doubles match exactly.
    @Test(arguments: files)
    func learningRatesMatchPyTorchExactly(file: String) throws {
        let f = try loadFixture(ScheduleFixture.self, "schedules/\(file)")
        let s = try schedule(from: f)
        try #require(f.lr.count == f.steps)
        for step in 0..<f.steps {
            #expect(s.learningRate(at: step) == f.lr[step], "\(file) lr at step \(step)")
        }
        if let momentum = f.momentum {
            for step in 0..<f.steps {
                #expect(s.momentum(at: step) == momentum[step], "\(file) momentum at step \(step)")
            }
        } else {
            #expect(s.momentum(at: 3) == nil)
        }
    }

    /// Minima are cycle ends: for the triangular family the fixture's rate there is the base rate
    /// and the lowest in the cycle; for warm restarts the rate jumps back up there.
    @Test func minimaAreWhereTheFixturesCyclesEnd() throws {
        let tri = try loadFixture(ScheduleFixture.self, "schedules/cyclic_triangular.json")
        let cyclic = try schedule(from: tri)
        #expect(cyclic.minima(upTo: 59) == [20, 40])
        for m in [20, 40] {
            #expect(tri.lr[m] == tri.lr.min())
            #expect(cyclic.isMinimum(at: m))
        }
        #expect(!cyclic.isMinimum(at: 0) && !cyclic.isMinimum(at: 10))
        #expect(cyclic.cycleIndex(at: 19) == 0 && cyclic.cycleIndex(at: 20) == 1)

        let asym = try loadFixture(ScheduleFixture.self, "schedules/cyclic_asymmetric.json")
        let a = try schedule(from: asym)
        #expect(a.minima(upTo: 59) == [15, 30, 45])
        for m in [15, 30, 45] { #expect(asym.lr[m] == asym.lr.min()) }

        let blog = try loadFixture(ScheduleFixture.self, "schedules/blog_cyclical_lambda.json")
        let b = try schedule(from: blog)
        #expect(b.minima(upTo: 63) == [16, 32, 48])  // the README's minima 0, 16, 32, 48, without the start
        for m in [16, 32, 48] { #expect(blog.lr[m] == blog.lr.min()) }

        let cosine = try loadFixture(ScheduleFixture.self, "schedules/cosine_warm_restarts.json")
        let c = try schedule(from: cosine)
        #expect(c.minima(upTo: 69) == [10, 30])  // restarts at 10 and 30 (README)
        for m in [10, 30] {
            #expect(cosine.lr[m] > cosine.lr[m - 1])
            #expect(cosine.lr[m - 1] == cosine.lr[..<m].min())
        }
        #expect(
            c.cycleIndex(at: 9) == 0 && c.cycleIndex(at: 10) == 1 && c.cycleIndex(at: 29) == 1
                && c.cycleIndex(at: 30) == 2)

        let one = try loadFixture(ScheduleFixture.self, "schedules/onecycle.json")
        let o = try schedule(from: one)
        #expect(o.minima(upTo: 100) == [100])
        #expect(one.lr[99] == one.lr.min())
    }
}

@Suite struct ScheduleConfigTests {
    /// One of each kind, in steps.
    static let resolved: [ResolvedSchedule] = [
        .constant(ConstantLR(lr: 0.1)), .stepDecay(StepDecayLR(lr: 0.1, gamma: 0.5, stepSize: 3)),
        .cyclic(CyclicLR(baseLR: 1e-3, maxLR: 6e-3, stepSizeUp: 20)),
        .cyclic(CyclicLR(baseLR: 1e-3, maxLR: 6e-3, stepSizeUp: 20, stepSizeDown: 7, mode: .triangular2)),
        .cyclic(
            CyclicLR(
                baseLR: 1e-3, maxLR: 6e-3, stepSizeUp: 10, mode: .expRange, gamma: 0.99,
                momentumRange: MomentumRange(base: 0.8, max: 0.9))),
        .oneCycle(OneCycleLR(maxLR: 0.01, totalSteps: 100)),
        .oneCycle(OneCycleLR(maxLR: 0.01, totalSteps: 100, anneal: .linear, threePhase: true, momentumRange: nil)),
        .cosineWarmRestarts(CosineAnnealingWarmRestarts(baseLR: 0.01, t0: 10, tMult: 2, etaMin: 1e-5)),
        .blogCyclical(BlogCyclicalLR(minLR: 5e-4, maxLR: 3e-3, stepSize: 8)),
        .exponentialSweep(ExponentialSweepLR(startLR: 1e-7, endLR: 0.1, total: 108)),
        .linearSweep(LinearSweepLR(startLR: 1e-7, endLR: 0.1, total: 108)),
    ]

    @Test func lengthsInEpochsResolveOnceTheStepsPerEpochAreKnown() throws {
        var config = ScheduleConfig.triangular(5e-4, 3e-3, stepSize: .epochs(4))
        try config.validate()
        #expect(
            try config.resolve(stepsPerEpoch: 90, runSteps: 9000, optimizerLR: 0.1)
                == .cyclic(CyclicLR(baseLR: 5e-4, maxLR: 3e-3, stepSizeUp: 360)))
        config.momentum = try MomentumCycling(parsing: "0.8:0.9")
        config.stepSizeDown = try StepCount(parsing: "100")
        #expect(config.cyclesMomentum)
        guard case .cyclic(let c) = try config.resolve(stepsPerEpoch: 90, runSteps: 9000, optimizerLR: 0.1) else {
            Issue.record("not cyclic")
            return
        }
        #expect(c.stepSizeDown == 100 && c.momentumRange == MomentumRange(base: 0.8, max: 0.9))
        // A fraction of an epoch that comes to less than a step is refused when the data is known.
        let tiny = ScheduleConfig(.blogCyclical, lr: .rate(3e-3), stepSize: .epochs(0.01))
        try tiny.validate()
        #expect(throws: GraftOptimError.self) { try tiny.resolve(stepsPerEpoch: 10, runSteps: 100, optimizerLR: 0.1) }
    }

    @Test func otherSchedulesResolve() throws {
        let one = ScheduleConfig(.onecycle, lr: .rate(0.01))
        #expect(
            try one.resolve(stepsPerEpoch: 10, runSteps: 100, optimizerLR: 0.1)
                == .oneCycle(OneCycleLR(maxLR: 0.01, totalSteps: 100)))
        var sgdr = ScheduleConfig(try ScheduleKind(parsing: "sgdr"), lr: .range(1e-5, 0.01), stepSize: .epochs(1))
        sgdr.tMult = 2
        #expect(
            try sgdr.resolve(stepsPerEpoch: 10, runSteps: 70, optimizerLR: 0.1)
                == .cosineWarmRestarts(CosineAnnealingWarmRestarts(baseLR: 0.01, t0: 10, tMult: 2, etaMin: 1e-5)))
        // The study's rule: a single max gives min = max/6.
        let blog = ScheduleConfig(try ScheduleKind(parsing: "blog"), lr: .rate(3e-3), stepSize: .steps(8))
        #expect(
            try blog.resolve(stepsPerEpoch: 4, runSteps: 64, optimizerLR: 0.1)
                == .blogCyclical(BlogCyclicalLR(minLR: 3e-3 / 6, maxLR: 3e-3, stepSize: 8)))
        // Without a rate, a constant schedule keeps the optimizer's.
        #expect(
            try ScheduleConfig.constant().resolve(stepsPerEpoch: 1, runSteps: 1, optimizerLR: 1e-3)
                == .constant(ConstantLR(lr: 1e-3)))
    }

    @Test func badValuesGiveClearErrors() throws {
        #expect(throws: GraftOptimError.unknownSchedule("zigzag")) { try ScheduleKind(parsing: "zigzag") }
        // A cyclical schedule without a step size takes PyTorch's default (ScheduleDefaultsTests);
        // the others still need theirs, and the check needs no data.
        #expect(throws: GraftOptimError.missingValue(name: "step size", owner: "schedule 'step'")) {
            try ScheduleConfig(.step, lr: .rate(1e-3)).validate()
        }
        #expect(throws: GraftOptimError.self) { try ScheduleConfig(.triangular, lr: .rate(1e-3)).validate() }
        #expect(throws: GraftOptimError.unknownHyperParameter(name: "gamma", owner: "schedule 'constant'")) {
            var constant = ScheduleConfig.constant(0.1)
            constant.gamma = 0.5
            try constant.validate()
        }
        #expect(throws: GraftOptimError.self) { try StepCount(parsing: "0ep") }
        #expect(throws: GraftOptimError.self) { try StepCount(parsing: "four") }
        #expect(throws: GraftOptimError.self) { try LearningRate(parsing: "1e-3:x") }
        #expect(throws: GraftOptimError.self) { try MomentumCycling(parsing: "0.9") }
        #expect(try StepCount(parsing: "2.5ep") == .epochs(2.5))
        #expect(try StepCount(parsing: "2.5ep").steps(perEpoch: 10, name: "step size") == 25)
        #expect(try StepCount(parsing: "2000") == .steps(2000))
    }

    @Test func configRoundTripsThroughJSON() throws {
        var configs = Self.resolved.map(ScheduleConfig.init)
        var epochs = ScheduleConfig.triangular(5e-4, 3e-3, stepSize: .epochs(4))
        epochs.stepSizeDown = .epochs(0.5)
        epochs.momentum = .off
        configs += [epochs, .constant(), ScheduleConfig(.onecycle, lr: .range(4e-4, 0.01))]
        for config in configs {
            let data = try JSONEncoder().encode(config)
            #expect(try JSONDecoder().decode(ScheduleConfig.self, from: data) == config)
        }
        let text = String(decoding: try JSONEncoder().encode(epochs), as: UTF8.self)
        #expect(text.contains(#""stepSize":"4ep""#) && text.contains(#""stepSizeDown":"0.5ep""#), "\(text)")
        for schedule in Self.resolved {
            let data = try JSONEncoder().encode(schedule)
            #expect(try JSONDecoder().decode(ResolvedSchedule.self, from: data) == schedule)
        }
        let bad = Data(
            #"{"schedule":"cyclic","baseLR":1,"maxLR":2,"stepSizeUp":0,"stepSizeDown":1,"mode":"triangular","gamma":1}"#
                .utf8)
        #expect(throws: (any Error).self) { try JSONDecoder().decode(ScheduleConfig.self, from: bad) }
    }

    /// One name per schedule: the JSON tag is the catalog's name and the command line's, and
    /// `--schedule NAME` parses back to the same kind. A schedule in steps, made a configuration,
    /// resolves back to itself.
    @Test func oneNameOnEverySurface() throws {
        #expect(Set(Self.resolved.map(\.kind)) == Set(ScheduleKind.allCases))
        for schedule in Self.resolved {
            let config = ScheduleConfig(schedule)
            let object = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(config)) as? [String: Any]
            #expect(object?["schedule"] as? String == schedule.name, "\(schedule)")
            #expect(try ScheduleKind(parsing: schedule.name) == schedule.kind)
            #expect(try config.resolve(stepsPerEpoch: 7, runSteps: 50, optimizerLR: 0.5) == schedule, "\(schedule)")
            #expect(config.cyclesMomentum == schedule.cyclesMomentum, "\(schedule)")
        }
    }

    /// Configurations stored in steps, and before the names were unified, still decode, to the
    /// same schedule.
    @Test func oldConfigurationsStillDecode() throws {
        let old: [(String, ResolvedSchedule)] = [
            (#"{"schedule":"constant","lr":0.01}"#, .constant(ConstantLR(lr: 0.01))),
            (
                #"{"schedule":"step_decay","lr":0.1,"gamma":0.5,"stepSize":3}"#,
                .stepDecay(StepDecayLR(lr: 0.1, gamma: 0.5, stepSize: 3))
            ),
            (
                #"{"schedule":"cyclic","baseLR":0.001,"maxLR":0.006,"stepSizeUp":20,"stepSizeDown":20,"mode":"triangular2","gamma":1}"#,
                .cyclic(CyclicLR(baseLR: 1e-3, maxLR: 6e-3, stepSizeUp: 20, mode: .triangular2))
            ),
            (
                #"{"schedule":"one_cycle","maxLR":0.01,"totalSteps":90,"pctStart":0.3,"anneal":"cos","divFactor":25,"finalDivFactor":10000,"threePhase":false}"#,
                .oneCycle(OneCycleLR(maxLR: 0.01, totalSteps: 90, momentumRange: nil))
            ),
            (
                #"{"schedule":"exponential_sweep","startLR":1e-7,"endLR":0.1,"total":108}"#,
                .exponentialSweep(ExponentialSweepLR(startLR: 1e-7, endLR: 0.1, total: 108))
            ),
        ]
        for (json, expected) in old {
            let config = try JSONDecoder().decode(ScheduleConfig.self, from: Data(json.utf8))
            #expect(try config.resolve(stepsPerEpoch: 3, runSteps: 30, optimizerLR: 0.5) == expected, "\(json)")
        }
        // A cyclical name must agree with the mode it carries.
        let contradictory =
            #"{"schedule":"triangular","baseLR":0.001,"maxLR":0.006,"stepSizeUp":20,"stepSizeDown":20,"mode":"exp_range","gamma":1}"#
        #expect(throws: (any Error).self) {
            try JSONDecoder().decode(ScheduleConfig.self, from: Data(contradictory.utf8))
        }
    }

    /// Independent closed forms: step decay, three-phase one-cycle endpoints, linear anneal.
    @Test func stepDecayAndOneCycleVariants() {
        let s = StepDecayLR(lr: 0.1, gamma: 0.5, stepSize: 3)
        #expect([0, 2, 3, 6].map { s.learningRate(at: $0) } == [0.1, 0.1, 0.05, 0.025])
        let three = OneCycleLR(maxLR: 0.01, totalSteps: 100, anneal: .linear, threePhase: true)
        #expect(three.learningRate(at: 0) == 0.01 / 25)
        #expect(abs(three.learningRate(at: 29) - 0.01) < 1e-15)
        #expect(abs(three.learningRate(at: 58) - 0.01 / 25) < 1e-15)
        #expect(abs(three.learningRate(at: 99) - 0.01 / 25 / 1e4) < 1e-18)
        #expect(three.momentum(at: 29) == 0.85 && three.momentum(at: 99) == 0.95)
    }
}
