import Testing
@testable import GraftOptim

/// A cyclical schedule without a step size takes PyTorch's `CyclicLR` default and says so.
@Suite struct ScheduleDefaultsTests {
    @Test(
        "triangular without a step size: PyTorch's step_size_up=2000",
        arguments: ["triangular", "triangular2", "exp_range"])
    func defaultStepSize(name: String) throws {
        let config = ScheduleConfig(try ScheduleKind(parsing: name), lr: .range(1e-3, 6e-3))
        guard case .cyclic(let cyclic) = try config.resolve(stepsPerEpoch: 10, runSteps: 100, optimizerLR: 0.1) else {
            Issue.record("\(name) did not make a cyclic schedule")
            return
        }
        #expect(cyclic.stepSizeUp == 2000 && cyclic.stepSizeDown == 2000)
        #expect(config.defaultsUsed.count == 1 && config.defaultsUsed[0].contains("2000"))
        // A given step size is used as given, and no default is reported.
        let given = ScheduleConfig(try ScheduleKind(parsing: name), lr: .range(1e-3, 6e-3), stepSize: .epochs(4))
        guard case .cyclic(let four) = try given.resolve(stepsPerEpoch: 10, runSteps: 100, optimizerLR: 0.1) else {
            Issue.record("\(name) did not make a cyclic schedule")
            return
        }
        #expect(four.stepSizeUp == 40 && given.defaultsUsed.isEmpty)
    }

    @Test("schedules without a cycle report no default step size")
    func otherSchedules() {
        #expect(ScheduleConfig.constant(0.1).defaultsUsed.isEmpty)
        #expect(ScheduleConfig(.step, lr: .rate(0.1)).defaultsUsed.isEmpty)
    }
}
