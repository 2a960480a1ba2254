import Foundation
import GraftData
import GraftModels
import GraftNN
import GraftSupport
import GraftTensor
import GraftTraining
import GraftWeights

/// Evaluates checkpoints as an ensemble on validation data.
///
/// Members are evaluated one at a time into a single model instance: each member's state dict
/// is read, loaded strictly, run over the validation batches, and its logits streamed into
/// `PredictionSums`; for SWA its weights are also streamed into a `WeightAverage`. So memory is
/// one model, one member's `[N, classes]` logits and the sums, however many members there are.
/// Greedy selection is the exception: it keeps every member's float32 logits (`N · classes · 4`
/// bytes each — 80 KB for 2,000 images of 10 classes, far below one model).
///
/// The validation batches are read from the source once and kept as tensors for all members,
/// so images are decoded and resized once: `N · 3 · H · W · 4` bytes (24 MB for 2,000 images at
/// 32×32; 1.2 GB for 2,000 at 224×224, where a smaller validation split is advisable).
///
/// With test-time augmentation, each member (and the SWA model) is also evaluated on the views
/// of every image (`TestTimeAugmentation`): its probabilities are averaged over the views for
/// `probs` (and its vote is their arg-max), its logits are averaged over the views for
/// `logits`; the members are then combined as without augmentation. Mirrors are made from the
/// kept batches; crop views are read again from the source for each member, a few batches at a
/// time, so they add no memory that grows with the data. Every member is evaluated without
/// augmentation too, and the model time of both passes is measured, so the advisor can weigh
/// what augmentation gains against what it costs (`EnsembleEvaluation.testTimeAugmentation`).
public final class EnsembleEvaluator {
    public let members: [EnsembleMember]
    public let methods: [EnsembleMethod]
    public let greedy: Bool
    /// Test-time augmentation of every member; nil evaluates each image once.
    public let augmentation: TestTimeAugmentation?
    /// Progress lines (one per member); nil is silent.
    public var log: ((String) -> Void)?
    /// The SWA model after `evaluate` ran with `.swa`: averaged weights, recomputed BatchNorm
    /// statistics, and the first member's attributes.
    public private(set) var averagedModel: (state: StateDict, attributes: WeightsAttributes)?
    /// The prediction sums over all members after `evaluate` (`[N, classes]` each), with
    /// augmentation when there is one.
    public private(set) var sums: PredictionSums?

    /// - Parameters:
    ///   - members: the checkpoints to evaluate and combine.
    ///   - methods: the methods to evaluate (`.swa` needs training data in `evaluate`).
    ///   - greedy: also run greedy selection for each prediction method.
    ///   - augmentation: test-time augmentation of every member (and the SWA model); nil
    ///     evaluates each image once.
    public init(
        members: [EnsembleMember], methods: [EnsembleMethod] = [.probs], greedy: Bool = false,
        augmentation: TestTimeAugmentation? = nil
    ) {
        self.members = members
        self.methods = methods
        self.greedy = greedy
        self.augmentation = augmentation
    }

    /// One pass's members, sums and timing: without augmentation, or with it.
    private struct Tally {
        var sums: PredictionSums
        var results: [EnsembleEvaluation.Member] = []
        var curves: [EnsembleMethod: [Double]] = [:]
        var keptLogits: [[Float]] = []
        var keptProbabilities: [[Float]] = []
        var memberProbabilities: [[Float]] = []
        /// Model seconds over every member and image.
        var seconds = 0.0
        var outcomes: [EnsembleEvaluation.Outcome] = []

        init(labels: [Int], classes: Int) { sums = PredictionSums(labels: labels, classes: classes) }

        mutating func add(
            _ member: EnsembleMember, logits: [Float], probabilities: [Float]?, methods: [EnsembleMethod],
            keep: Bool
        ) -> EnsembleScore {
            var single = PredictionSums(labels: sums.labels, classes: sums.classes)
            single.add(logits: logits, probabilities: probabilities)
            let own = single.score(.probs)
            results.append(.init(member: member, accuracy: own.accuracy, loss: own.loss ?? .nan))
            sums.add(logits: logits, probabilities: probabilities)
            for m in methods { curves[m, default: []].append(sums.score(m).accuracy) }
            if keep {
                keptLogits.append(logits)
                if let probabilities { keptProbabilities.append(probabilities) }
            }
            memberProbabilities.append(
                probabilities ?? EnsembleEvaluator.softmax(logits, classes: sums.classes))
            return own
        }

        var best: Int {
            results.indices.max { a, b in
                results[a].accuracy < results[b].accuracy
                    || (results[a].accuracy == results[b].accuracy && results[a].loss > results[b].loss)
            }!
        }

        /// The outcome of each prediction method, and of its greedy selection.
        mutating func combine(_ methods: [EnsembleMethod], greedy: Bool) {
            let bestAccuracy = results[best].accuracy
            for m in methods {
                let s = sums.score(m)
                outcomes.append(
                    .init(
                        label: m.rawValue, method: m, greedy: false, selected: Array(results.indices),
                        accuracy: s.accuracy, loss: s.loss, bestSingleAccuracy: bestAccuracy,
                        accuracyBySize: curves[m] ?? []))
                if greedy {
                    let g = GreedySelection.select(
                        logits: keptLogits, probabilities: keptProbabilities.isEmpty ? nil : keptProbabilities,
                        labels: sums.labels, classes: sums.classes, method: m)
                    outcomes.append(
                        .init(
                            label: m.rawValue + "+greedy", method: m, greedy: true, selected: g.order,
                            accuracy: g.scores.last!.accuracy, loss: g.scores.last!.loss,
                            bestSingleAccuracy: bestAccuracy, accuracyBySize: g.scores.map(\.accuracy)))
                }
            }
            keptLogits = []
            keptProbabilities = []
        }

        mutating func addSWA(logits: [Float], probabilities: [Float]?) -> EnsembleScore {
            var single = PredictionSums(labels: sums.labels, classes: sums.classes)
            single.add(logits: logits, probabilities: probabilities)
            let s = single.score(.probs)
            outcomes.append(
                .init(
                    label: "swa", method: .swa, greedy: false, selected: Array(results.indices),
                    accuracy: s.accuracy, loss: s.loss, bestSingleAccuracy: results[best].accuracy,
                    accuracyBySize: [s.accuracy]))
            return s
        }
    }

    /// Evaluates every member and every requested method on `validation`.
    /// - Parameters:
    ///   - validation: the batches every member and method is evaluated on.
    ///   - training: batches for SWA's BatchNorm recomputation (one pass over epoch 0); ignored
    ///     without `.swa`. Nil keeps the averaged running statistics.
    /// - Throws: `EnsembleError` for no members, incompatible members or empty data;
    ///   `WeightsError` for unreadable files; `DataError.invalidArgument` when the augmentation
    ///   has crops and `validation` cannot make them.
    public func evaluate(validation: BatchSource, training: BatchSource?) throws -> EnsembleEvaluation {
        guard !members.isEmpty else { throw EnsembleError.noMembers("none were given") }
        let validationBatches = validation.batches(epoch: 0, startingAt: 0)
        let batches = try validationBatches.all()
        let labels = batches.flatMap(\.labels)
        guard !labels.isEmpty else { throw EnsembleError.emptyValidation("the validation data") }
        let cropViews = try augmentation.flatMap { $0.crops ? try $0.views(of: validation) : nil }

        var model: (any BlockStructured)?
        var reference: WeightsAttributes?
        var plain: Tally?
        var augmented: Tally?
        defer { self.sums = (augmented ?? plain)?.sums }
        var average = WeightAverage()
        let predictionMethods = methods.filter(\.combinesPredictions)
        let wantsSWA = methods.contains(.swa)

        for (index, member) in members.enumerated() {
            let (state, attributes) = try WeightsFile.read(member.url)
            if let reference {
                guard attributes.architecture.lowercased() == reference.architecture.lowercased(),
                    attributes.numClasses == reference.numClasses
                else {
                    throw EnsembleError.incompatibleMember(
                        path: member.url.path,
                        reason: "\(attributes.architecture) with \(attributes.numClasses) classes, the first member is "
                            + "\(reference.architecture) with \(reference.numClasses)")
                }
            } else {
                reference = attributes
                if let bad = labels.first(where: { $0 >= attributes.numClasses }) {
                    throw EnsembleError.incompatibleMember(
                        path: member.url.path,
                        reason: "the model has \(attributes.numClasses) classes, the data has label \(bad)")
                }
                model = try Architecture(named: attributes.architecture).make(numClasses: attributes.numClasses)
                plain = Tally(labels: labels, classes: attributes.numClasses)
                if augmentation != nil { augmented = Tally(labels: labels, classes: attributes.numClasses) }
            }
            do {
                try model!.load(state, strict: true)
            } catch {
                throw EnsembleError.incompatibleMember(
                    path: member.url.path, reason: "its weights do not load",
                    cause: ErrorCause(error))
            }
            if wantsSWA { try average.add(state, source: member.url.path) }

            let classes = reference!.numClasses
            let start = DispatchTime.now()
            let logits = Self.logits(model!, batches: batches, classes: classes)
            plain!.seconds += Self.seconds(since: start)
            var own = plain!.add(
                member, logits: logits, probabilities: nil, methods: predictionMethods, keep: greedy)
            if let augmentation {
                let outputs = try Self.augmentedOutputs(
                    model!, batches: batches, cropViews: cropViews, augmentation: augmentation, labels: labels,
                    classes: classes)
                augmented!.seconds += outputs.seconds
                own = augmented!.add(
                    member, logits: outputs.logits, probabilities: outputs.probabilities, methods: predictionMethods,
                    keep: greedy)
            }
            log?(
                "member \(index + 1)/\(members.count) \(member.name): accuracy \(String(format: "%.4f", own.accuracy)), "
                    + "loss \(String(format: "%.4f", own.loss ?? .nan))"
                    + (augmentation.map { " with tta \($0)" } ?? ""))
        }

        plain!.combine(predictionMethods, greedy: greedy)
        augmented?.combine(predictionMethods, greedy: greedy)

        var bnBatches = 0
        if wantsSWA, let model, let reference {
            try model.load(average.average(), strict: true)
            if let training {
                bnBatches = try BatchNormStatistics.recompute(model, batches: training.batches(epoch: 0, startingAt: 0))
            }
            var s = plain!.addSWA(
                logits: Self.logits(model, batches: batches, classes: reference.numClasses), probabilities: nil)
            if let augmentation {
                let outputs = try Self.augmentedOutputs(
                    model, batches: batches, cropViews: cropViews, augmentation: augmentation, labels: labels,
                    classes: reference.numClasses)
                s = augmented!.addSWA(logits: outputs.logits, probabilities: outputs.probabilities)
            }
            averagedModel = (model.stateDict(), reference)
            log?(
                "swa of \(members.count) members (BatchNorm statistics from \(bnBatches) training batches): accuracy "
                    + String(format: "%.4f", s.accuracy) + (augmentation.map { " with tta \($0)" } ?? ""))
        }
        let main = augmented ?? plain!
        var comparison: EnsembleEvaluation.AugmentationComparison?
        if let augmentation, let plain, let augmented {
            let images = Double(labels.count * members.count)
            comparison = .init(
                augmentation: augmentation, memberAccuracy: plain.results.map(\.accuracy),
                memberLoss: plain.results.map(\.loss), bestMember: plain.best,
                outcomeAccuracy: plain.outcomes.map(\.accuracy), outcomeLoss: plain.outcomes.map(\.loss),
                secondsPerImage: plain.seconds / images, augmentedSecondsPerImage: augmented.seconds / images)
        }
        return EnsembleEvaluation(
            members: main.results, outcomes: main.outcomes, samples: labels.count,
            classes: reference!.numClasses, bestMember: main.best, batchNormBatches: bnBatches,
            diversity: EnsembleDiversity(probabilities: main.memberProbabilities, classes: reference!.numClasses),
            testTimeAugmentation: comparison)
    }

    static func seconds(since start: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    }

    /// A member's outputs averaged over the views of every validation image: its logits (for
    /// `logits`) and its softmax probabilities (for `probs` and votes), each `[N, classes]`,
    /// from one forward pass per view; and the model seconds they took (loading excluded).
    /// - Parameters:
    ///   - model: the member, loaded.
    ///   - batches: the kept validation batches (their mirrors are the flip views).
    ///   - cropViews: the crop-view source when the augmentation has crops: read again here.
    ///   - augmentation: the views.
    ///   - labels: the labels of `batches`, which the crop views must repeat in order.
    ///   - classes: the model's class count.
    /// - Throws: the source's errors; `EnsembleError.augmentationViews` when the crop views do
    ///   not hold the same images as `batches`.
    static func augmentedOutputs(
        _ model: Module, batches: [LabeledBatch], cropViews: BatchSource?, augmentation: TestTimeAugmentation,
        labels: [Int], classes: Int
    ) throws -> (logits: [Float], probabilities: [Float], seconds: Double) {
        model.eval()
        var logits = [Float](), probabilities = [Float](), seen: [Int] = [], seconds = 0.0
        logits.reserveCapacity(labels.count * classes)
        probabilities.reserveCapacity(labels.count * classes)
        func add(_ batch: LabeledBatch) {
            let start = DispatchTime.now()
            // One forward per view; logits and probabilities side by side, `[n, 2 · classes]`.
            let both = TestTimeAugmentation.mean(
                batch.images, views: batch.views, flip: augmentation.mirrorsBatches
            ) { x in
                let z = model(x), p = CrossEntropy.softmax(z)
                let n = z.size(0)
                var out = Tensor(uninitializedShape: [n, 2 * classes])
                let o = out.mutablePointer()
                for i in 0..<n {
                    (o + 2 * i * classes).update(from: z.pointer + i * classes, count: classes)
                    (o + (2 * i + 1) * classes).update(from: p.pointer + i * classes, count: classes)
                }
                return out
            }
            seconds += Self.seconds(since: start)
            both.withUnsafeBufferPointer { all in
                for i in 0..<batch.labels.count {
                    logits += all[(2 * i * classes)..<((2 * i + 1) * classes)]
                    probabilities += all[((2 * i + 1) * classes)..<((2 * i + 2) * classes)]
                }
            }
            seen += batch.labels
        }
        if let cropViews {
            let stream = cropViews.batches(epoch: 0, startingAt: 0)
            while let batch = try stream.next() { add(batch) }
        } else {
            for batch in batches { add(batch) }
        }
        guard seen == labels else {
            throw EnsembleError.augmentationViews(
                "the crop views gave \(seen.count) images, the validation batches \(labels.count), or in another order")
        }
        return (logits, probabilities, seconds)
    }

    /// Row-wise softmax of `[N, classes]` logits, in float64 before rounding.
    static func softmax(_ logits: [Float], classes: Int) -> [Float] {
        var out = [Float](repeating: 0, count: logits.count)
        for row in stride(from: 0, to: logits.count, by: classes) {
            var top = logits[row]
            for c in 1..<classes { top = max(top, logits[row + c]) }
            var sum = 0.0
            for c in 0..<classes { sum += exp(Double(logits[row + c] - top)) }
            for c in 0..<classes { out[row + c] = Float(exp(Double(logits[row + c] - top)) / sum) }
        }
        return out
    }

    /// Eval-mode logits of every validation sample, `[N, classes]` row-major.
    static func logits(_ model: Module, batches: [LabeledBatch], classes: Int) -> [Float] {
        model.eval()
        let total = batches.reduce(0) { $0 + $1.labels.count }
        var out = [Float](repeating: 0, count: total * classes)
        var offset = 0
        out.withUnsafeMutableBufferPointer { buffer in
            for batch in batches {
                let z = model(batch.images)
                precondition(
                    z.count == batch.labels.count * classes, "logits \(z.shape) for \(batch.labels.count) samples")
                (buffer.baseAddress! + offset).update(from: z.pointer, count: z.count)
                offset += z.count
            }
        }
        return out
    }
}
