import Testing
@testable import GraftOptim

/// A cyclical schedule without a step size takes PyTorch's `CyclicLR` default and says so.
@Suite struct ScheduleDefaultsTests {
    @Test(
        "triangular without a step size: PyTorch's step_size_up=2000",
        arguments: ["triangular", "triangular2", "exp_range"])
    func defaultStepSize(name: String) throws {
        let args = ScheduleArguments(kind: try ScheduleKind(parsing: name), lr: "1e-3:6e-3")
        guard case .cyclic(let cyclic) = try args.makeConfig(stepsPerEpoch: 10, totalSteps: 100) else {
            Issue.record("\(name) did not make a cyclic schedule")
            return
        }
        #expect(cyclic.stepSizeUp == 2000 && cyclic.stepSizeDown == 2000)
        #expect(args.defaultsUsed.count == 1 && args.defaultsUsed[0].contains("2000"))
        // A given step size is used as given, and no default is reported.
        let given = ScheduleArguments(kind: try ScheduleKind(parsing: name), lr: "1e-3:6e-3", stepSize: "4ep")
        guard case .cyclic(let four) = try given.makeConfig(stepsPerEpoch: 10, totalSteps: 100) else {
            Issue.record("\(name) did not make a cyclic schedule")
            return
        }
        #expect(four.stepSizeUp == 40 && given.defaultsUsed.isEmpty)
    }

    @Test("schedules without a cycle report no default step size")
    func otherSchedules() {
        #expect(ScheduleArguments(kind: .constant, lr: "0.1").defaultsUsed.isEmpty)
        #expect(ScheduleArguments(kind: .step, lr: "0.1").defaultsUsed.isEmpty)
    }
}
