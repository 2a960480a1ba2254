import Foundation
import GraftCatalog
import GraftData
@testable import GraftEnsemble
import GraftModels
import GraftNN
import GraftOptim
import GraftTensor
import GraftTraining
import GraftWeights
import Testing
import TestSupport

/// Ensembles of two fixture models: the vanilla CNN at PyTorch's seed-0 initialisation, and the
/// same model after the three SGD steps of `vanilla_cnn/steps` (whose eval logits PyTorch
/// recorded). Expected values come from PyTorch's logits, or from direct computations.
@Suite(.serialized) struct EnsembleTests {
    static let attributes = WeightsAttributes(
        modelID: "vanilla-cnn", architecture: "vanilla-cnn", numClasses: 5,
        inputSize: [3, 128, 128], mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5])

    /// The seed-0 model, and the same after three SGD(lr 0.01, momentum 0.9) steps in train mode
    /// with dropout off, as the fixture made it.
    static func fixtureModels() throws -> (VanillaCNN, VanillaCNN) {
        let a = VanillaCNN(numClasses: 5)
        _ = try a.load(try PyTorchCheckpoint.load(Fixtures.url("vanilla_cnn/vanilla-seed0.pth")))
        let b = VanillaCNN(numClasses: 5)
        _ = try b.load(a.stateDict())
        b.train()
        for d in b.dropouts { d.p = 0 }
        var config = try OptimizerConfig(parsing: "sgd")
        try config.set("lr", to: "0.01")
        try config.set("momentum", to: "0.9")
        let optimizer = try Optimizer(config, parameters: b.namedParameters())
        let (x, labels) = try fixtureBatch()
        for _ in 0..<3 {
            optimizer.zeroGrad()
            let (_, grad, _) = CrossEntropy.lossAndGradient(logits: b.forward(x, mode: .parameters), labels: labels)
            _ = b.backward(grad)
            optimizer.step()
        }
        a.eval()
        b.eval()
        return (a, b)
    }

    static func fixtureBatch() throws -> (Tensor, [Int]) {
        (
            try NPY.float(Fixtures.url("vanilla_cnn/input.npy")),
            try NPY.int64(Fixtures.url("vanilla_cnn/labels.npy")).map { Int($0) }
        )
    }

    static func writeMembers(_ models: [Module], in directory: URL) throws -> [EnsembleMember] {
        try models.enumerated().map { i, m in
            let url = directory.appendingPathComponent("member\(i).h5")
            try WeightsFile.write(m.stateDict(), attributes: attributes, to: url)
            return EnsembleMember(name: "m\(i)", url: url)
        }
    }

    static func softmax(_ row: [Double]) -> [Double] {
        let m = row.max()!
        let e = row.map { Foundation.exp($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    static func rows(_ t: Tensor) -> [[Double]] {
        (0..<t.size(0)).map { i in (0..<t.size(1)).map { Double(t.pointer[i * t.size(1) + $0]) } }
    }

    @Test func predictionAveragingMatchesPyTorchLogits() throws {
        let (a, b) = try Self.fixtureModels()
        let (x, labels) = try Self.fixtureBatch()
        let directory = try TemporaryDirectory.make("graft-ensemble")
        defer { try? FileManager.default.removeItem(at: directory) }
        let members = try Self.writeMembers([a, b], in: directory)
        // Batches of 3 and 1: the evaluator must stitch batches in order.
        let source = InMemoryBatchSource(images: x, labels: labels, batchSize: 3, shuffle: false)
        let evaluator = EnsembleEvaluator(members: members, methods: [.probs, .logits, .vote])
        let evaluation = try evaluator.evaluate(validation: source, training: nil)
        let sums = try #require(evaluator.sums)

        let torchA = Self.rows(try NPY.float(Fixtures.url("vanilla_cnn/eval_logits.npy")))
        let torchB = Self.rows(try NPY.float(Fixtures.url("vanilla_cnn/steps/sgd_eval_logits.npy")))
        let ownA = Self.rows(a(x)), ownB = Self.rows(b(x))
        let probs = sums.probabilities(.probs), logitProbs = sums.probabilities(.logits)
        var nllProbs = 0.0, nllLogits = 0.0
        for i in 0..<4 {
            let torchMean = zip(Self.softmax(torchA[i]), Self.softmax(torchB[i])).map { ($0 + $1) / 2 }
            let ownMean = zip(Self.softmax(ownA[i]), Self.softmax(ownB[i])).map { ($0 + $1) / 2 }
            let ownLogitMean = Self.softmax(zip(ownA[i], ownB[i]).map { ($0 + $1) / 2 })
            let torchLogitMean = Self.softmax(zip(torchA[i], torchB[i]).map { ($0 + $1) / 2 })
            for j in 0..<5 {
                #expect(abs(probs[i * 5 + j] - torchMean[j]) < 2e-3, "probs[\(i),\(j)] vs PyTorch")
                #expect(abs(probs[i * 5 + j] - ownMean[j]) < 1e-6, "probs[\(i),\(j)] vs direct")
                #expect(abs(logitProbs[i * 5 + j] - torchLogitMean[j]) < 2e-3, "logits[\(i),\(j)] vs PyTorch")
                #expect(abs(logitProbs[i * 5 + j] - ownLogitMean[j]) < 1e-6, "logits[\(i),\(j)] vs direct")
            }
            nllProbs -= Foundation.log(ownMean[labels[i]])
            nllLogits -= Foundation.log(ownLogitMean[labels[i]])
        }
        let byLabel = Dictionary(uniqueKeysWithValues: evaluation.outcomes.map { ($0.label, $0) })
        #expect(abs(byLabel["probs"]!.loss! - nllProbs / 4) < 1e-6)
        #expect(abs(byLabel["logits"]!.loss! - nllLogits / 4) < 1e-6)
        #expect(byLabel["vote"]!.loss == nil)

        // Votes of two members: agreement wins; disagreement is a tie, broken by summed probability.
        let votes = sums.predictions(.vote)
        for i in 0..<4 {
            let argA = ownA[i].indices.max { ownA[i][$0] < ownA[i][$1] }!
            let argB = ownB[i].indices.max { ownB[i][$0] < ownB[i][$1] }!
            let mean = zip(Self.softmax(ownA[i]), Self.softmax(ownB[i])).map { $0 + $1 }
            let tieBreak = [argA, argB].max { mean[$0] < mean[$1] || (mean[$0] == mean[$1] && $0 > $1) }!
            #expect(votes[i] == (argA == argB ? argA : tieBreak))
        }
        // Per-member accuracies equal their own arg-max accuracy; gains are relative to the best.
        for (k, own) in [ownA, ownB].enumerated() {
            let correct = (0..<4).filter { i in own[i].indices.max { own[i][$0] < own[i][$1] }! == labels[i] }.count
            #expect(evaluation.members[k].accuracy == Double(correct) / 4)
        }
        let best = evaluation.members.map(\.accuracy).max()!
        for o in evaluation.outcomes { #expect(abs(o.gain - (o.accuracy - best)) < 1e-12) }
        #expect(byLabel["probs"]!.accuracyBySize.count == 2)
        #expect(byLabel["probs"]!.accuracyBySize[0] == evaluation.members[0].accuracy)
    }

    @Test("with flip TTA each member's probabilities (and for logits its logits) are averaged over the views first")
    func augmentedMembers() throws {
        let (a, b) = try Self.fixtureModels()
        let (x, labels) = try Self.fixtureBatch()
        let directory = try TemporaryDirectory.make("graft-ensemble-tta")
        defer { try? FileManager.default.removeItem(at: directory) }
        let members = try Self.writeMembers([a, b], in: directory)
        let source = InMemoryBatchSource(images: x, labels: labels, batchSize: 3, shuffle: false)
        let evaluator = EnsembleEvaluator(
            members: members, methods: [.probs, .logits, .vote], greedy: true, augmentation: .flip)
        let evaluation = try evaluator.evaluate(validation: source, training: nil)
        let sums = try #require(evaluator.sums)
        let mirrored = TestTimeAugmentation.mirror(x)
        // Per member: its logits and softmax on the image and on its mirror, run separately.
        let logits = [a, b].map { m in (Self.rows(m(x)), Self.rows(m(mirrored))) }
        let probs = sums.probabilities(.probs), logitProbs = sums.probabilities(.logits)
        for i in 0..<4 {
            var meanProbs = [Double](repeating: 0, count: 5), meanLogits = [Double](repeating: 0, count: 5)
            for (plain, flipped) in logits {
                let p = Self.softmax(plain[i]), q = Self.softmax(flipped[i])
                for j in 0..<5 {
                    meanProbs[j] += (p[j] + q[j]) / 4
                    meanLogits[j] += (plain[i][j] + flipped[i][j]) / 4
                }
            }
            let fromLogits = Self.softmax(meanLogits)
            for j in 0..<5 {
                #expect(abs(probs[i * 5 + j] - meanProbs[j]) < 1e-6, "probs[\(i),\(j)]")
                #expect(abs(logitProbs[i * 5 + j] - fromLogits[j]) < 1e-6, "logits[\(i),\(j)]")
            }
        }
        // The same members without TTA, for the advisor, equal a plain evaluation.
        let plain = try EnsembleEvaluator(members: members, methods: [.probs, .logits, .vote], greedy: true)
            .evaluate(validation: source, training: nil)
        let tta = try #require(evaluation.testTimeAugmentation)
        #expect(plain.testTimeAugmentation == nil)
        #expect(
            tta.memberAccuracy == plain.members.map(\.accuracy) && tta.outcomeAccuracy == plain.outcomes.map(\.accuracy)
        )
        #expect(evaluation.outcomes.map(\.label) == plain.outcomes.map(\.label))
        #expect(tta.secondsPerImage > 0 && tta.augmentedSecondsPerImage > 0)
        let advice = EnsembleAdvice.advise(validation: evaluation, test: nil)
        #expect(
            advice.testTimeAugmentation?.gains.map(\.label) == ["m0", "probs", "logits", "vote"]
                || advice.testTimeAugmentation?.gains.map(\.label) == ["m1", "probs", "logits", "vote"])
        #expect(advice.summary.contains("Test-time augmentation (flip, 2 views) on validation"))
        #expect(
            EnsembleJob.augmentationTable(advice) != nil
                && EnsembleJob.augmentationTable(
                    EnsembleAdvice.advise(validation: plain, test: nil)) == nil
        )
    }

    @Test func voteBreaksTiesBySummedProbability() {
        // Three members, three classes, one sample each case.
        // Sample 0: votes 0, 1, 1 → class 1 by majority.
        // Sample 1: votes 0, 1, 2 → three-way tie; member 2 is very sure of class 2.
        // Sample 2: votes 2, 2, 0 → class 2 although summed probability favours 0.
        let m0: [Float] = [3, 0, 0, /**/ 0.1, 0, 0, /**/ 0, 0, 0.1]
        let m1: [Float] = [0, 2, 0, /**/ 0, 0.1, 0, /**/ 0, 0, 0.1]
        let m2: [Float] = [0, 1, 0, /**/ 0, 0, 9, /**/ 9, 0, 0]
        var sums = PredictionSums(labels: [1, 2, 2], classes: 3)
        for m in [m0, m1, m2] { sums.add(logits: m) }
        #expect(sums.predictions(.vote) == [1, 2, 2])
        #expect(sums.predictions(.probs)[2] == 0)
        #expect(sums.score(.vote).correct == 3)
        let third = 1.0 / 3
        let shares: [Double] = [third, 2 * third, 0, third, third, third, third, 0, 2 * third]
        #expect(sums.probabilities(.vote) == shares)
    }

    @Test func weightAveragingIsTheElementwiseMean() throws {
        let (a, b) = try Self.fixtureModels()
        let c = VanillaCNN(numClasses: 5, seed: 7)
        var average = WeightAverage()
        for (i, m) in [a, b, c].enumerated() { try average.add(m.stateDict(), source: "m\(i)") }
        let mean = average.average()
        let states = [a.stateDict(), b.stateDict(), c.stateDict()]
        #expect(mean.keys == states[0].keys)
        for key in mean.keys {
            switch mean[key]! {
            case .float(let t):
                var worst = 0.0
                for i in 0..<t.count {
                    var sum = 0.0
                    for s in states { if case .float(let u) = s[key]! { sum += Double(u.pointer[i]) } }
                    worst = max(worst, abs(Double(t.pointer[i]) - sum / 3) / max(1e-30, abs(sum / 3)))
                }
                #expect(worst <= 1e-7, "\(key): relative error \(worst)")
            case .int64(_, let values):
                // a has 0 tracked batches, b has 3 (three train-mode steps), c has 0.
                #expect(values == [3], "\(key)")
            }
        }
        // A member with another head cannot be averaged in.
        var broken = average
        #expect(throws: EnsembleError.self) { try broken.add(VanillaCNN(numClasses: 3).stateDict(), source: "other") }
    }

    /// One batch from PyTorch's defaults: the running mean after one train-mode forward with
    /// momentum 0.1 from (0, 1) is 0.1·mean, the running variance 0.9 + 0.1·var. The recomputed
    /// statistics, put through that update, must give the fixture's running statistics to the
    /// README's tolerance for them (rel-to-max 1e-5).
    @Test func batchNormRecomputationMatchesPyTorchOnOneBatch() throws {
        let model = VanillaCNN(numClasses: 5)
        _ = try model.load(try PyTorchCheckpoint.load(Fixtures.url("vanilla_cnn/vanilla-seed0.pth")))
        model.eval()
        let (x, labels) = try Self.fixtureBatch()
        var pending: [LabeledBatch] = [LabeledBatch(images: x, labels: labels)]
        let used = try BatchNormStatistics.recompute(model, batches: BatchIterator { pending.popLast() })
        #expect(used == 1)
        let rm = try NPY.float(Fixtures.url("vanilla_cnn/running/features.1.running_mean.npy"))
        let rv = try NPY.float(Fixtures.url("vanilla_cnn/running/features.1.running_var.npy"))
        let bn = model.features.layers[1] as! BatchNorm2d
        guard case .float(let mean) = bn.runningMean.value, case .float(let variance) = bn.runningVar.value else {
            Issue.record("float buffers expected")
            return
        }
        try #require(mean.count == 32 && variance.count == 32)
        let updatedMean = Tensor(shape: [32], scalars: (0..<32).map { Float(0.1 * Double(mean.pointer[$0])) })
        let updatedVar = Tensor(shape: [32], scalars: (0..<32).map { Float(0.9 + 0.1 * Double(variance.pointer[$0])) })
        #expect(Compare.relToMax(updatedMean, rm) <= 1e-5)
        #expect(Compare.relToMax(updatedVar, rv) <= 1e-5)
        #expect(bn.numBatchesTracked.value == .int64(shape: [], values: [1]))
        #expect(model.namedModules().allSatisfy { !$0.module.isTraining }, "eval mode restored")
    }

    /// Two batches of different sizes: each layer's statistics are the plain average over batches
    /// of the batch mean and unbiased variance of that layer's input, computed here directly.
    @Test func batchNormRecomputationIsACumulativeAverage() throws {
        var rng = RandomGenerator(seed: 11)
        let images = Tensor.normal([6, 3, 16, 16], std: 1.5, using: &rng)
        let source = InMemoryBatchSource(
            images: images, labels: Array(repeating: 0, count: 6), batchSize: 4, shuffle: false)
        let model = VanillaCNN(numClasses: 5, seed: 3)
        model.eval()
        try BatchNormStatistics.recompute(model, batches: source.batches(epoch: 0, startingAt: 0))

        // Direct: a twin model whose BatchNorm layers use batch statistics; the input of
        // features.1 and features.5 are the outputs of the layers below them.
        let twin = VanillaCNN(numClasses: 5, seed: 3)
        twin.train()
        let layers = twin.features.layers
        for (bnIndex, channels) in [(1, 32), (5, 64)] {
            var meanSum = [Double](repeating: 0, count: channels), varSum = meanSum
            var batchCount = 0
            for batch in try source.batches(epoch: 0, startingAt: 0).all() {
                var h = batch.images
                for l in 0..<bnIndex { h = layers[l](h) }
                let n = h.size(0), hw = h.size(2) * h.size(3)
                for ch in 0..<channels {
                    var values: [Double] = []
                    for i in 0..<n {
                        for j in 0..<hw { values.append(Double(h.pointer[(i * channels + ch) * hw + j])) }
                    }
                    let mu = values.reduce(0, +) / Double(values.count)
                    let v = values.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(values.count - 1)
                    meanSum[ch] += mu
                    varSum[ch] += v
                }
                batchCount += 1
            }
            let bn = model.features.layers[bnIndex] as! BatchNorm2d
            guard case .float(let mean) = bn.runningMean.value, case .float(let variance) = bn.runningVar.value else {
                Issue.record("float buffers expected")
                return
            }
            for ch in 0..<channels {
                let em = meanSum[ch] / Double(batchCount), ev = varSum[ch] / Double(batchCount)
                #expect(abs(Double(mean.pointer[ch]) - em) <= 1e-5 * max(1, abs(em)), "features.\(bnIndex) mean[\(ch)]")
                #expect(
                    abs(Double(variance.pointer[ch]) - ev) <= 1e-5 * max(1, abs(ev)), "features.\(bnIndex) var[\(ch)]")
            }
            #expect(bn.numBatchesTracked.value == .int64(shape: [], values: [2]))
        }
    }

    /// Logits `(s, 0)` per sample: positive `s` predicts class 0. Labels 0, 0, 0, 1, 1, 1.
    static let greedyCase: (labels: [Int], members: [[Float]]) = {
        func member(_ s: [Float]) -> [Float] { s.flatMap { [$0, 0] } }
        return (
            [0, 0, 0, 1, 1, 1],
            [
                member([2, 2, 2, -2, 1, 1]),  // A: 4/6, mildly wrong on the last two
                member([-0.5, 1, 1, -1, -4, -4]),  // B: 5/6, mildly wrong on the first
                member([-3, -3, -3, 3, 3, 3]),  // C: 0/6
                member([2, 2, 2, -2, 1, 1]),  // D: a copy of A
            ]
        )
    }()

    @Test func greedySelectionFindsTheExhaustiveOptimum() {
        let (labels, logits) = Self.greedyCase
        let result = GreedySelection.select(logits: logits, labels: labels, classes: 2, method: .probs)

        // Exhaustive: every non-empty subset, scored by accuracy then mean NLL of mean probabilities.
        var best: (subset: [Int], correct: Int, nll: Double)?
        for mask in 1..<(1 << logits.count) {
            let subset = (0..<logits.count).filter { mask & (1 << $0) != 0 }
            var correct = 0, nll = 0.0
            for i in labels.indices {
                var p = [0.0, 0.0]
                for k in subset {
                    let q = Self.softmax([Double(logits[k][2 * i]), Double(logits[k][2 * i + 1])])
                    p[0] += q[0] / Double(subset.count)
                    p[1] += q[1] / Double(subset.count)
                }
                if (p[0] >= p[1] ? 0 : 1) == labels[i] { correct += 1 }
                nll -= Foundation.log(p[labels[i]]) / Double(labels.count)
            }
            if best == nil || correct > best!.correct || (correct == best!.correct && nll < best!.nll - 1e-12) {
                best = (subset, correct, nll)
            }
        }
        #expect(best!.subset == [0, 1])
        #expect(result.order == [1, 0], "starts from B (best single), adds A, stops")
        #expect(Set(result.order) == Set(best!.subset))
        #expect(result.scores.map(\.correct) == [5, 6])
        #expect(abs(result.scores.last!.loss! - best!.nll) < 1e-9)
    }

    /// A tiny run on Fashion-MNIST with a triangular schedule, then `EnsembleJob` on its minima.
    @Test(.enabled(if: FashionMNISTAvailability.train.runs, FashionMNISTAvailability.train.comment))
    func endToEndThroughTheCatalog() throws {
        try FashionMNISTAvailability.train.require()
        let directory = try TemporaryDirectory.make("graft-ensemble")
        defer { try? FileManager.default.removeItem(at: directory) }
        let catalog = try Catalog.open(at: directory.appendingPathComponent("catalog.sqlite").path)
        var data = DataSpecification(source: DataSpecification.fashionMNIST, imageSize: 16)
        data.classes = ["T-shirt/top", "Trouser", "Sneaker"]
        data.trainPerClass = 24
        var optimizer = try OptimizerConfig(parsing: "sgd")
        try optimizer.set("lr", to: "0.01")
        try optimizer.set("momentum", to: "0.9")
        // 72 training images in batches of 12: 6 steps per epoch, a cycle every 2 epochs.
        let schedule = ScheduleConfig.triangular(1e-3, 1e-2, stepSize: .epochs(1))
        var configuration = RunConfiguration(
            modelId: "vanilla-cnn", architecture: "vanilla-cnn", weights: nil, data: data, optimizer: optimizer,
            schedule: schedule, trainable: ["block1", "block2", "block3", "block4", "head"], epochs: 4, batchSize: 12,
            seed: 1)
        configuration.save.best = false
        let training = TrainingRun(configuration: configuration, catalog: catalog)
        training.showProgress = false
        let summary = try training.start()
        let minima = try catalog.checkpoints(filter: CheckpointFilter(run: summary.runId, minimaOnly: true)).map(
            \.checkpoint)
        #expect(minima.map(\.epoch) == [2, 4])

        var job = EnsembleJob()
        job.run = summary.runId
        job.minimaOnly = true
        job.methods = EnsembleMethod.allCases
        job.greedy = true
        let result = try job.execute(catalog: catalog)
        // Each member's accuracy is what the trainer measured on the same validation split.
        #expect(result.evaluation.members.map(\.member.checkpointId) == minima.map(\.id))
        for (m, c) in zip(result.evaluation.members, minima) { #expect(abs(m.accuracy - c.valAcc!) < 1e-9) }
        #expect(result.evaluation.batchNormBatches == 6)

        let stored = try catalog.ensembles(run: summary.runId)
        #expect(
            stored.map(\.ensemble.method) == [
                "probs", "probs+greedy", "logits", "logits+greedy", "vote", "vote+greedy", "swa",
            ])
        #expect(stored.map(\.ensemble.id) == result.ensembleIds)
        let probs = stored[0]
        #expect(probs.ensemble.memberCheckpointIds == minima.map { $0.id! })
        #expect(
            probs.members.map(\.ensembleAccuracy) == result.evaluation.outcomes[0].accuracyBySize.map(Optional.init))
        #expect(
            abs(probs.ensemble.gain! - (probs.ensemble.accuracy - result.evaluation.members.map(\.accuracy).max()!))
                < 1e-12)

        // The SWA model is a plain weights file that loads strictly into a fresh model.
        let swa = try #require(result.averagedModel)
        let file = directory.appendingPathComponent("swa.h5")
        try WeightsFile.write(swa.state, attributes: swa.attributes, to: file)
        let (state, attributes) = try WeightsFile.read(file)
        let fresh = try Architecture(named: attributes.architecture).make(numClasses: attributes.numClasses)
        #expect(try fresh.load(state, strict: true).isComplete)

        let svg = EnsembleJob.plot(result.evaluation).svg()
        #expect(svg.contains("probs, checkpoint order") && svg.contains("SWA"))
    }
}
