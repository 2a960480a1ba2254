import Foundation
import GraftNN
import GraftTensor
import Testing
import TestSupport
@testable import GraftOptim

/// The optimizer config a fixture's PyTorch param group describes, set through the CLI setter.
private func config(from fixture: OptimizerFixture) throws -> OptimizerConfig {
    var config = try OptimizerConfig(parsing: fixture.optimizer)
    let ignored: Set = ["foreach", "capturable", "differentiable", "fused", "decoupled_weight_decay"]
    for (key, value) in fixture.config where !ignored.contains(key) {
        try config.set(key, to: value.text)
    }
    return config
}

private func tensor(_ values: [Double]) -> Tensor {
    Tensor(shape: [values.count], scalars: values.map { Float($0) })
}

/// `|Δ| ≤ 1e-5·max(1, |ref|)` element-wise (the fixture README's tolerance).
private func close(_ actual: Tensor, _ expected: [Double]) -> Bool {
    let a = actual.scalars
    guard a.count == expected.count else { return false }
    for i in 0..<a.count where abs(Double(a[i]) - expected[i]) > 1e-5 * max(1, abs(expected[i])) { return false }
    return true
}

@Suite struct OptimizerFixtureTests {
    static let files: [String] = (try? fixtureFiles("optimizers", ext: "json")) ?? []

    @Test func allFixturesArePresent() {
        #expect(Self.files.count == 16)
    }

    @Test(arguments: files)
    func trajectoryMatchesPyTorch(file: String) throws {
        let fixture = try loadFixture(OptimizerFixture.self, "optimizers/\(file)")
        let cfg = try config(from: fixture)
        let grads = fixture.grads, trajectory = fixture.trajectory
        try #require(grads.count == 30 && trajectory.count == 30)
        let parameter = Parameter(tensor(fixture.initial))
        let optimizer = try makeOptimizer(cfg, parameters: [("p", parameter)])

        var cyclic: CyclicLR?
        if let sc = fixture.scheduler?.config {
            #expect(fixture.scheduler?.type == "CyclicLR" && sc["mode"] == .string("triangular"))
            cyclic = CyclicLR(
                baseLR: try #require(sc["base_lr"]?.double), maxLR: try #require(sc["max_lr"]?.double),
                stepSizeUp: try #require(sc["step_size_up"]?.int), stepSizeDown: sc["step_size_down"]?.int,
                mode: .triangular,
                momentumRange: MomentumRange(
                    base: try #require(sc["base_momentum"]?.double),
                    max: try #require(sc["max_momentum"]?.double)))
        }
        let lrs = fixture.lr ?? [], momenta = fixture.momentum ?? []
        for t in 0..<30 {
            if let cyclic {
                optimizer.apply(cyclic, at: t)
                #expect(optimizer.learningRate == lrs[t], "lr at step \(t)")
                #expect(optimizer.config.momentum == momenta[t], "momentum at step \(t)")
            }
            parameter.grad = tensor(grads[t])
            optimizer.step()
            #expect(
                close(parameter.value, trajectory[t]),
                "\(file) step \(t): \(parameter.value.scalars) vs \(trajectory[t])")
        }
    }

    /// Export after 15 steps, load into a fresh optimizer, finish: same as the fixture.
    @Test(arguments: [
        "adam_full.json", "rmsprop_full.json", "sgd_full.json", "adadelta_full.json",
        "adagrad_full.json", "adamax_full.json",
    ])
    func stateSurvivesACheckpoint(file: String) throws {
        let fixture = try loadFixture(OptimizerFixture.self, "optimizers/\(file)")
        let cfg = try config(from: fixture)
        let grads = fixture.grads, trajectory = fixture.trajectory
        let parameter = Parameter(tensor(fixture.initial))
        let first = try Optimizer(cfg, parameters: [("layer.weight", parameter)])
        for t in 0..<15 {
            parameter.grad = tensor(grads[t])
            first.step()
        }
        let saved = first.stateDict()
        #expect(saved["layer.weight/step"] == .int64(shape: [], values: [15]))
        let second = try Optimizer(cfg, parameters: [("layer.weight", parameter)])
        try second.load(stateDict: saved)
        for t in 15..<30 {
            parameter.grad = tensor(grads[t])
            second.step()
            #expect(close(parameter.value, trajectory[t]), "\(file) step \(t) after reload")
        }
    }
}

@Suite struct OptimizerBehaviourTests {
    @Test func frozenAndGradlessParametersAreSkipped() throws {
        let frozen = Parameter(Tensor(shape: [3], scalars: [1, 2, 3]))
        frozen.requiresGrad = false
        frozen.grad = Tensor(shape: [3], scalars: [1, 1, 1])
        let noGrad = Parameter(Tensor(shape: [2], scalars: [4, 5]))
        let live = Parameter(Tensor(shape: [2], scalars: [1, -1]))
        live.grad = Tensor(shape: [2], scalars: [0.5, -0.25])
        let optimizer = try Optimizer(
            OptimizerConfig(kind: .adam),
            parameters: [("a", frozen), ("b", noGrad), ("c", live)])
        optimizer.step()
        #expect(frozen.value.scalars == [1, 2, 3])
        #expect(noGrad.value.scalars == [4, 5])
        #expect(live.value.scalars != [1, -1])
        #expect(Set(optimizer.state.keys) == ["c"])
    }

    @Test func learningRateFactorsScaleByLongestPrefix() throws {
        var cfg = OptimizerConfig(kind: .sgd)
        cfg.learningRate = 0.1
        let a = Parameter(Tensor(shape: [1], scalars: [1])), b = Parameter(Tensor(shape: [1], scalars: [1]))
        let c = Parameter(Tensor(shape: [1], scalars: [1]))
        for p in [a, b, c] { p.grad = Tensor(shape: [1], scalars: [2]) }
        let factors = LearningRateFactors(["layer4": 0.5, "layer4.1": 0.25])
        let optimizer = try Optimizer(
            cfg,
            parameters: [
                ("layer4.0.conv1.weight", a), ("layer4.1.bn1.bias", b),
                ("layer40.weight", c),
            ],
            learningRateFactors: factors)
        optimizer.step()
        // p − lr·factor·g in float32, as PyTorch's add(alpha=−lr) computes it.
        #expect(a.value.scalars == [1 + Float(-0.05) * 2])
        #expect(b.value.scalars == [1 + Float(-0.025) * 2])
        #expect(c.value.scalars == [1 + Float(-0.1) * 2])
    }

    @Test func stateIsKeyedByNameAcrossParameterListChanges() throws {
        var cfg = OptimizerConfig(kind: .sgd)
        cfg.momentum = 0.9
        let a = Parameter(Tensor(shape: [1], scalars: [0])), b = Parameter(Tensor(shape: [1], scalars: [0]))
        a.grad = Tensor(shape: [1], scalars: [1])
        b.grad = Tensor(shape: [1], scalars: [1])
        let optimizer = try Optimizer(cfg, parameters: [("a", a), ("b", b)])
        optimizer.step()
        optimizer.parameters = [("b", b)]  // "a" frozen out of the list
        optimizer.step()
        optimizer.parameters = [("a", a), ("b", b)]
        optimizer.step()
        #expect(optimizer.state["a"]?.step == 2)
        #expect(optimizer.state["b"]?.step == 3)
        // a: buffer 1, then 0.9·1 + 1 = 1.9; steps 1 and 1.9 at lr 1e-3.
        let expectedA = (Float(0) + Float(-0.001) * 1) + Float(-0.001) * (1 * Float(0.9) + 1)
        #expect(a.value.scalars == [expectedA])
        #expect(optimizer.stateDict().keys == ["a/step", "a/momentum_buffer", "b/step", "b/momentum_buffer"])
    }

    @Test func aReplacedParameterStartsAfresh() throws {
        var cfg = OptimizerConfig(kind: .sgd)
        cfg.momentum = 0.9
        let old = Parameter(Tensor(shape: [2], scalars: [0, 0]))
        old.grad = Tensor(shape: [2], scalars: [1, 1])
        let optimizer = try Optimizer(cfg, parameters: [("fc.weight", old)])
        optimizer.step()
        let new = Parameter(Tensor(shape: [3], scalars: [0, 0, 0]))
        new.grad = Tensor(shape: [3], scalars: [2, 2, 2])
        optimizer.parameters = [("fc.weight", new)]
        optimizer.step()
        #expect(optimizer.state["fc.weight"]?.step == 1)
        // First step of a fresh buffer: the buffer is the gradient itself.
        #expect(new.value.scalars == [Float](repeating: Float(-0.001) * 2, count: 3))
    }

    @Test func loadRejectsForeignOrMisshapenState() throws {
        let p = Parameter(Tensor(shape: [2], scalars: [0, 0]))
        let optimizer = try Optimizer(OptimizerConfig(kind: .adam), parameters: [("w", p)])
        var foreign = StateDict()
        foreign["w/step"] = .int64(shape: [], values: [3])
        foreign["w/momentum_buffer"] = .float(Tensor(shape: [2], scalars: [1, 1]))
        #expect(throws: GraftOptimError.unexpectedStateBuffer(key: "w/momentum_buffer", optimizer: "Adam")) {
            try optimizer.load(stateDict: foreign)
        }
        var misshapen = StateDict()
        misshapen["w/step"] = .int64(shape: [], values: [3])
        misshapen["w/exp_avg"] = .float(Tensor(shape: [3], scalars: [1, 1, 1]))
        #expect(throws: GraftOptimError.stateShapeMismatch(key: "w/exp_avg", expected: [2], found: [3])) {
            try optimizer.load(stateDict: misshapen)
        }
        var noStep = StateDict()
        noStep["w/exp_avg"] = .float(Tensor(shape: [2], scalars: [1, 1]))
        #expect(throws: GraftOptimError.missingStep(parameter: "w")) { try optimizer.load(stateDict: noStep) }
        var badKey = StateDict()
        badKey["exp_avg"] = .float(Tensor(shape: [2], scalars: [1, 1]))
        #expect(throws: GraftOptimError.malformedStateKey("exp_avg")) { try optimizer.load(stateDict: badKey) }
        #expect(optimizer.state.isEmpty)
        // The message names the key at fault.
        let message =
            GraftOptimError.stateShapeMismatch(key: "w/exp_avg", expected: [2], found: [3]).errorDescription ?? ""
        #expect(message.contains("w/exp_avg"))
    }

    @Test func configParsesNamesAndRoundTripsThroughJSON() throws {
        #expect(try OptimizerKind(parsing: "RMSprop") == .rmsprop)
        #expect(try OptimizerKind(parsing: "AdamW") == .adamw)
        #expect(throws: GraftOptimError.unknownOptimizer("lion")) { try OptimizerKind(parsing: "lion") }
        // PyTorch defaults.
        #expect(OptimizerConfig(kind: .adadelta).learningRate == 1.0)
        #expect(OptimizerConfig(kind: .adamw).weightDecay == 0.01)
        #expect(OptimizerConfig(kind: .adamax).learningRate == 0.002)
        var cfg = try OptimizerConfig(parsing: "adam")
        try cfg.set("betas", to: "0.8,0.95")
        try cfg.set("amsgrad", to: "true")
        try cfg.set("weight_decay", to: "1e-4")
        #expect(throws: GraftOptimError.unknownHyperParameter(name: "momentum", owner: "Adam")) {
            try cfg.set("momentum", to: "0.9")
        }
        #expect(throws: (any Error).self) { try cfg.set("eps", to: "tiny") }
        let data = try JSONEncoder().encode(cfg)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"optimizer\":\"adam\"") && text.contains("\"betas\":[0.8,0.95]"))
        #expect(!text.contains("momentum"))
        #expect(try JSONDecoder().decode(OptimizerConfig.self, from: data) == cfg)
        // Missing keys take the defaults.
        let sparse = try JSONDecoder().decode(
            OptimizerConfig.self, from: Data(#"{"optimizer":"sgd","momentum":0.9}"#.utf8))
        #expect(sparse.learningRate == 1e-3 && sparse.momentum == 0.9)
    }

    @Test func momentumIsBeta1ForTheAdamFamily() throws {
        let optimizer = try Optimizer(OptimizerConfig(kind: .adam), parameters: [])
        optimizer.momentum = 0.85
        #expect(optimizer.config.beta1 == 0.85)
        let adagrad = try Optimizer(OptimizerConfig(kind: .adagrad), parameters: [])
        adagrad.momentum = 0.9
        #expect(adagrad.momentum == nil)
    }

    @Test func invalidHyperParametersAreRejected() {
        var cfg = OptimizerConfig(kind: .sgd)
        cfg.nesterov = true
        #expect(throws: (any Error).self) { try Optimizer(cfg, parameters: []) }
        var adam = OptimizerConfig(kind: .adam)
        adam.beta1 = 1.0
        #expect(throws: (any Error).self) { try Optimizer(adam, parameters: []) }
    }
}
