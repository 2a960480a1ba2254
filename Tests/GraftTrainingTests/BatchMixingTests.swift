import Foundation
import GraftData
import GraftModels
import GraftNN
import GraftOptim
import GraftTensor
import Testing
import TestSupport

@testable import GraftTraining

/// The worst `|x − ref|` over an array and `max |ref|`, for the fixtures README's rel-to-max.
func relToMax(_ values: [Float], _ reference: [Double]) -> (worst: Double, scale: Double) {
    precondition(values.count == reference.count, "\(values.count) values for \(reference.count) references")
    let worst = zip(values, reference).map { abs(Double($0) - $1) }.max() ?? 0
    return (worst, reference.map(abs).max() ?? 0)
}

/// A state dict from a fixture's `{key: [floats] or int}` map, shaped as `model`'s.
func fixtureState(_ values: [String: FixtureNumbers], like model: Module) throws -> StateDict {
    var state = StateDict()
    for (key, current) in model.stateDict() {
        let value = try #require(values[key], "fixture lacks \(key)")
        switch (current, value) {
        case (.float(let t), .floats(let numbers)):
            state[key] = .float(Tensor(shape: t.shape, scalars: numbers.map(Float.init)))
        case (.int64(let shape, _), .int(let n)):
            state[key] = .int64(shape: shape, values: [n])
        default:
            Issue.record("fixture entry \(key) has the wrong type")
        }
    }
    return state
}

/// A fixture state entry: a flat float array, or a 0-d integer (`num_batches_tracked`).
enum FixtureNumbers: Decodable {
    case floats([Double])
    case int(Int64)

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let n = try? c.decode(Int64.self) { self = .int(n) } else { self = .floats(try c.decode([Double].self)) }
    }

    var floats: [Double] {
        if case .floats(let f) = self { return f }
        return []
    }
}

/// The fixtures' small model: Conv (no bias) → BatchNorm → ReLU → global average pool → Linear,
/// keyed as PyTorch's `nn.Sequential`.
func smallFixtureModel(classes: Int) -> Sequential {
    var rng = RandomGenerator(seed: 0)
    return Sequential([
        Conv2d(3, 4, kernel: 3, padding: 1, bias: false, rng: &rng), BatchNorm2d(4), ReLU(),
        AdaptiveAvgPool2d(1, 1), Flatten(), Linear(4, classes, rng: &rng),
    ])
}

/// mixup and CutMix against torchvision v2's reference math (`Tests/Fixtures/mixup-cutmix.json`,
/// `scripts/make-regulariser-fixtures.py`): the mixed batch, the soft targets, the loss, the
/// logits gradient and a small model's parameter gradients, with lam and the box centre given;
/// then the draws, and training with mixing on.
@Suite struct BatchMixingTests {
    struct Case: Decodable {
        var name: String
        var kind: String
        var lam: Double
        var label_smoothing: Double
        var box_centre: [Int]?
        var box: [Int]?
        var lam_adjusted: Double
        var mixed_images: [Double]
        var targets: [Double]
        var loss: Double
        var logits_gradient: [Double]
        var parameter_gradients: [String: [Double]]
        var float32_rel_to_max: Double
    }

    struct File: Decodable {
        var image_shape: [Int]
        var classes: Int
        var labels: [Int]
        var images: [Double]
        var model: [String: FixtureNumbers]
        var cases: [Case]
    }

    /// rel-to-max 2e-6 for the loss and gradients: above the largest float32-vs-float64
    /// difference of PyTorch's own step in the file (5.0e-7) and of ours (6.1e-7, a conv weight's
    /// gradient through BatchNorm's batch statistics; the loss 2.7e-8, the logits gradient 6.7e-8).
    static let tolerance = 2e-6
    /// rel-to-max 1e-7 for the mixed batch and targets: each value is two float32 products and
    /// one sum in a fixed order (or a copy), so ours is PyTorch's to the last bit (measured: 0).
    static let mixingTolerance = 1e-7

    @Test("the mixed batch, targets, loss and gradients match torchvision's MixUp/CutMix with PyTorch")
    func matchesPyTorch() throws {
        let file = try JSONDecoder().decode(
            File.self, from: Data(contentsOf: Fixtures.committed("mixup-cutmix.json")))
        #expect(Set(file.cases.map(\.kind)) == ["mixup", "cutmix"] && file.cases.count == 4)
        let shape = file.image_shape
        let images = Tensor(shape: shape, scalars: file.images.map(Float.init))
        for c in file.cases {
            #expect(c.float32_rel_to_max < Self.tolerance, "\(c.name): the tolerance must sit above PyTorch's own")
            let draw: MixDraw
            if let centre = c.box_centre {
                draw = .cutmix(lam: c.lam, centreX: centre[0], centreY: centre[1], height: shape[2], width: shape[3])
                let box = try #require(c.box)
                #expect(
                    draw == .cutmix(box: PixelBox(x1: box[0], y1: box[1], x2: box[2], y2: box[3]), lam: c.lam_adjusted))
            } else {
                draw = .mixup(lam: c.lam)
            }
            #expect(abs(draw.labelWeight - c.lam_adjusted) <= 1e-15, "\(c.name): lam \(draw.labelWeight)")
            let mixed = draw.apply(to: images)
            let m = relToMax(mixed.scalars, c.mixed_images)
            #expect(m.worst <= Self.mixingTolerance * m.scale, "\(c.name): mixed batch off by \(m.worst)")
            let targets = draw.targets(labels: file.labels, classes: file.classes)
            let t = relToMax(targets.scalars, c.targets)
            #expect(t.worst <= Self.mixingTolerance * t.scale, "\(c.name): targets off by \(t.worst)")

            let model = smallFixtureModel(classes: file.classes)
            _ = try model.load(fixtureState(file.model, like: model), strict: true)
            model.train()
            let logits = model.forward(mixed, mode: .parameters)
            let (loss, gradient) = CrossEntropy.lossAndGradient(
                logits: logits, targets: targets, labelSmoothing: c.label_smoothing)
            #expect(abs(Double(loss) - c.loss) <= Self.tolerance * abs(c.loss), "\(c.name): loss \(loss) vs \(c.loss)")
            let g = relToMax(gradient.scalars, c.logits_gradient)
            #expect(
                g.worst <= Self.tolerance * g.scale, "\(c.name): logits gradient off by \(g.worst) (max \(g.scale))")
            _ = model.backward(gradient)
            let parameters = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.parameter) })
            #expect(Set(parameters.keys) == Set(c.parameter_gradients.keys))
            for (key, reference) in c.parameter_gradients {
                let grad = try #require(parameters[key]?.grad, "\(c.name): no gradient for \(key)")
                let p = relToMax(grad.scalars, reference)
                #expect(
                    p.worst <= Self.tolerance * p.scale, "\(c.name): \(key) gradient off by \(p.worst) (max \(p.scale))"
                )
            }
        }
    }

    @Test("with one-hot targets the soft loss is the hard one, label smoothing included")
    func softTargetsReduceToHardLabels() {
        var rng = RandomGenerator(seed: 4)
        let logits = Tensor.normal([6, 5], std: 3, using: &rng)
        let labels = [0, 4, 2, 2, 1, 3]
        let targets = MixDraw.mixup(lam: 1).targets(labels: labels, classes: 5)
        for eps in [0.0, 0.1] {
            let hard = CrossEntropy.lossAndGradient(logits: logits, labels: labels, labelSmoothing: eps)
            let soft = CrossEntropy.lossAndGradient(logits: logits, targets: targets, labelSmoothing: eps)
            #expect(abs(hard.loss - soft.loss) <= 1e-6 * hard.loss)
            let r = relToMax(soft.gradient.scalars, hard.gradient.scalars.map(Double.init))
            #expect(r.worst <= 1e-6 * r.scale)
            #expect(CrossEntropy.dominantLabelHits(logits: logits, targets: targets) == hard.correct)
        }
    }

    @Test("Beta(α, α) draws have the distribution's mean and variance")
    func betaMoments() {
        for alpha in [0.2, 1.0, 2.0] {
            var rng = RandomGenerator(seed: 11)
            let n = 40_000
            let draws = (0..<n).map { _ in BatchMixing.beta(alpha, using: &rng) }
            #expect(draws.allSatisfy { $0 >= 0 && $0 <= 1 && $0.isFinite })
            let mean = draws.reduce(0, +) / Double(n)
            let variance = draws.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)
            let expected = 1 / (4 * (2 * alpha + 1))
            // Standard error of the mean ≈ 0.0021 at α 0.2: 5 of them.
            #expect(abs(mean - 0.5) < 0.011, "α \(alpha): mean \(mean)")
            #expect(abs(variance - expected) < 0.05 * expected, "α \(alpha): variance \(variance) vs \(expected)")
        }
    }

    @Test("draws depend on the seed and the step alone; with both alphas each batch picks one, evenly")
    func drawsAreAFunctionOfSeedAndStep() {
        let both = BatchMixing(mixupAlpha: 0.2, cutmixAlpha: 1.0, seed: 7)
        let draws = (0..<2000).map { both.draw(step: $0, height: 32, width: 24) }
        #expect(draws == (0..<2000).map { both.draw(step: $0, height: 32, width: 24) })
        let mixups = draws.filter { if case .mixup = $0 { true } else { false } }.count
        #expect(abs(mixups - 1000) < 120, "\(mixups) mixup batches of 2000")
        for case .cutmix(let box, let lam) in draws {
            #expect(box.x1 >= 0 && box.x1 <= box.x2 && box.x2 <= 24 && box.y1 >= 0 && box.y1 <= box.y2 && box.y2 <= 32)
            #expect(abs(lam - (1 - Double((box.x2 - box.x1) * (box.y2 - box.y1)) / (24 * 32))) < 1e-12)
        }
        let other = BatchMixing(mixupAlpha: 0.2, cutmixAlpha: 1.0, seed: 8)
        #expect(draws != (0..<2000).map { other.draw(step: $0, height: 32, width: 24) })
        let onlyCutMix = BatchMixing(mixupAlpha: nil, cutmixAlpha: 1.0, seed: 7)
        #expect(
            (0..<50).allSatisfy {
                if case .cutmix = onlyCutMix.draw(step: $0, height: 8, width: 8) { true } else { false }
            })
    }

    @Test("a trainer with mixing trains on mixed batches, and never on cached trunk features")
    func trainerMixesAndSkipsTheCache() throws {
        // ResNet18 at 32² with layer4 and the head trained: the trunk below is cached without mixing.
        func trainer(_ mixing: BatchMixing?) throws -> Trainer {
            let model = ResNet(depth: .resnet18, numClasses: 2, seed: 5)
            var config = try OptimizerConfig(parsing: "sgd")
            config.learningRate = 0.02
            let trainer = try Trainer(
                model: model, optimizer: try Optimizer(config, parameters: model.namedParameters()),
                schedule: ConstantLR(lr: 0.02), trainableBlocks: ["layer4", "head"])
            trainer.batchMixing = mixing
            return trainer
        }
        let source = syntheticSource(count: 32, size: 32, batch: 16)
        let plain = try trainer(nil)
        try plain.fit(train: source, validation: nil, epochs: 2)
        #expect(plain.featureCache != nil, "the frozen trunk is cached without mixing")

        let mixed = try trainer(BatchMixing(mixupAlpha: 0.4, cutmixAlpha: 1.0, seed: 0))
        var losses: [Float] = []
        mixed.onStep = { _, loss, _, _ in losses.append(loss) }
        try mixed.fit(train: source, validation: nil, epochs: 2)
        #expect(mixed.featureCache == nil && !mixed.epochRunsOnCachedFeatures)
        #expect(losses.count == 4 && losses.allSatisfy(\.isFinite))
        #expect(mixed.model.stateDict() != plain.model.stateDict())
    }
}
