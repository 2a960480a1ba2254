import Foundation
import Testing
import TestSupport
@testable import GraftOptim

@Suite struct LRFinderFixtureTests {
    /// The curves' rates are the study's exponential sweep, bit for bit.
    @Test(arguments: [("lr_finder/vanilla_curve.csv", 0.1), ("lr_finder/transfer_curve.csv", 1.0)])
    func curveRatesAreTheExponentialSweep(file: String, endLR: Double) throws {
        let curve = try Curve(file)
        try #require(curve.lrs.count == 108)
        let sweep = ExponentialSweepLR(startLR: 1e-7, endLR: endLR, total: 108)
        for i in 0..<108 { #expect(sweep.learningRate(at: i) == curve.lrs[i], "step \(i)") }
        let test = LRRangeTest(LRRangeTestConfig(steps: 108, endLR: endLR))
        #expect(test.learningRate(at: 107) == curve.lrs[107])
    }

    @Test(arguments: ["vanilla", "transfer"])
    func suggestionsMatchTheFixture(name: String) throws {
        let curve = try Curve("lr_finder/\(name)_curve.csv")
        let expected = try loadFixture([String: JSONValue].self, "lr_finder/suggestions.json")
        guard case .object(let entry) = expected[name], case .object(let steepest) = entry["torch_lr_finder_steepest"],
            case .object(let blog) = entry["blog_min_loss_rule"]
        else {
            Issue.record("suggestions.json layout")
            return
        }
        let s = try #require(LRSuggestions.steepest(lrs: curve.lrs, losses: curve.losses))
        #expect(s.lr == steepest["lr"]?.double)
        #expect(s.step == steepest["step"]?.int)

        let b = try #require(LRSuggestions.minimumLossDividedByTen(lrs: curve.lrs, losses: curve.losses))
        #expect(b.step == blog["min_loss_step"]?.int)
        #expect(b.lr == blog["max_lr"]?.double)
        #expect(b.baseLR == blog["min_lr"]?.double)
    }

    /// Expected indices from fastai's published `valley` source (fastai/callback/schedule.py)
    /// run in Python on these curves with `num_it = 108`, i.e. on `[10:-5]`:
    /// vanilla → index 69 (valley 31…90 of the slice), transfer → index 65 (27…85).
    @Test(arguments: [("vanilla", 69), ("transfer", 65)])
    func valleyMatchesFastai(name: String, step: Int) throws {
        let curve = try Curve("lr_finder/\(name)_curve.csv")
        let v = try #require(LRSuggestions.valley(lrs: curve.lrs, losses: curve.losses, plannedSteps: 108))
        #expect(v.step == step)
        #expect(v.lr == curve.lrs[step])
    }
}

@Suite struct LRRangeTestDriverTests {
    @Test func numpyGradientUsesOneSidedEndsAndCentralInside() {
        #expect(LRSuggestions.numpyGradient([1, 4, 9, 16]) == [3, 4, 6, 7])
        #expect(LRSuggestions.numpyGradient([2, 5]) == [3, 3])
    }

    @Test func valleyOnAHandMadeCurve() {
        // 15 points, plannedSteps 10 → skip 1 at the start, 5 at the end: slice = losses[1..<10].
        // Slice: 5 4 3 2 1 0 9 9 9 → lds ends at index 5 (length 6), start = 5 − 6 = −1,
        // sections = 2, index = −1 + 2 + 1 = 2 → curve index 3.
        let losses: [Double] = [7, 5, 4, 3, 2, 1, 0, 9, 9, 9, 8, 8, 8, 8, 8]
        let lrs = (0..<15).map { Double($0) / 10 }
        let v = LRSuggestions.valley(lrs: lrs, losses: losses, plannedSteps: 10)
        #expect(v?.step == 3 && v?.lr == 0.3)
    }

    /// Smoothing checked against the non-recursive form
    /// `Σₖ (1−β)β^(i−k)·lossₖ / (1 − β^(i+1))`.
    @Test func smoothingIsBiasCorrectedEMA() {
        var test = LRRangeTest(LRRangeTestConfig(steps: 20))
        let losses = (0..<20).map { 2.0 - 0.05 * Double($0) + 0.1 * sin(Double($0)) }
        for (i, loss) in losses.enumerated() {
            let decision = test.record(loss: loss)
            #expect(decision == (i == 19 ? .stop : .proceed))
        }
        let r = test.result()
        #expect(r.stop == .completed && r.losses == losses && r.steps == Array(0..<20))
        for i in 0..<20 {
            var sum = 0.0
            for k in 0...i { sum += 0.02 * pow(0.98, Double(i - k)) * losses[k] }
            let expected = sum / (1 - pow(0.98, Double(i + 1)))
            #expect(abs(r.smoothedLosses[i] - expected) <= 1e-12 * expected)
        }
        #expect(r.lrs[0] == 1e-7)
        #expect(r.suggestions.map(\.name) == ["min_loss_div10", "steepest", "valley"])
    }

    @Test func stopsWhenTheSmoothedLossDiverges() {
        var test = LRRangeTest(LRRangeTestConfig(steps: 100))
        var i = 0
        var loss = 1.0
        while test.record(loss: loss) == .proceed {
            i += 1
            loss = i < 20 ? 1.0 : loss * 3
        }
        let r = test.result()
        #expect(r.stop == .diverged)
        // Independently: the first i with smoothed[i] > 4·min(smoothed[0...i]).
        let s = r.smoothedLosses
        let firstDiverged = s.indices.first { j in s[j] > 4 * s[0...j].min()! }
        #expect(firstDiverged == s.count - 1)
        #expect(s.count < 100)
    }

    @Test func nonFiniteLossStopsWithoutRecording() {
        var test = LRRangeTest(LRRangeTestConfig(steps: 10, sweep: .linear))
        #expect(test.record(loss: 1) == .proceed)
        #expect(test.record(loss: .nan) == .stop)
        #expect(test.record(loss: 1) == .stop)
        let r = test.result()
        #expect(r.stop == .nonFiniteLoss && r.losses == [1])
        #expect(test.learningRate(at: 5) == 1e-7 + (0.1 - 1e-7) * 5 / 10)
    }

    @Test func warnings() throws {
        var cyclingMomentum = ScheduleConfig.triangular(1e-3, 6e-3, stepSize: .steps(5))
        cyclingMomentum.momentum = .range(MomentumRange(base: 0.8, max: 0.9))
        #expect(
            OptimizerWarning.check(OptimizerConfig(kind: .adagrad), schedule: cyclingMomentum)
                == [.noMomentumToCycle(.adagrad)])
        #expect(
            OptimizerWarning.check(OptimizerConfig(kind: .adadelta), schedule: nil) == [
                .adadeltaLearningRateIsMultiplier
            ])
        var sgd = OptimizerConfig(kind: .sgd)
        #expect(OptimizerWarning.check(sgd, schedule: cyclingMomentum) == [.noMomentumToCycle(.sgd)])
        sgd.momentum = 0.9
        #expect(OptimizerWarning.check(sgd, schedule: cyclingMomentum).isEmpty)
        #expect(OptimizerWarning.check(OptimizerConfig(kind: .adam), schedule: cyclingMomentum).isEmpty)
    }
}
