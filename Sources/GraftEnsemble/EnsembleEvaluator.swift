import Foundation
import GraftData
import GraftModels
import GraftNN
import GraftSupport
import GraftTensor
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
public final class EnsembleEvaluator {
    public let members: [EnsembleMember]
    public let methods: [EnsembleMethod]
    public let greedy: Bool
    /// Progress lines (one per member); nil is silent.
    public var log: ((String) -> Void)?
    /// The SWA model after `evaluate` ran with `.swa`: averaged weights, recomputed BatchNorm
    /// statistics, and the first member's attributes.
    public private(set) var averagedModel: (state: StateDict, attributes: WeightsAttributes)?
    /// The prediction sums over all members after `evaluate` (`[N, classes]` each).
    public private(set) var sums: PredictionSums?

    /// - Parameters:
    ///   - members: the checkpoints to evaluate and combine.
    ///   - methods: the methods to evaluate (`.swa` needs training data in `evaluate`).
    ///   - greedy: also run greedy selection for each prediction method.
    public init(members: [EnsembleMember], methods: [EnsembleMethod] = [.probs], greedy: Bool = false) {
        self.members = members
        self.methods = methods
        self.greedy = greedy
    }

    /// Evaluates every member and every requested method on `validation`.
    /// - Parameters:
    ///   - validation: the batches every member and method is evaluated on.
    ///   - training: batches for SWA's BatchNorm recomputation (one pass over epoch 0); ignored
    ///     without `.swa`. Nil keeps the averaged running statistics.
    /// - Throws: `EnsembleError` for no members, incompatible members or empty data;
    ///   `WeightsError` for unreadable files.
    public func evaluate(validation: BatchSource, training: BatchSource?) throws -> EnsembleEvaluation {
        guard !members.isEmpty else { throw EnsembleError.noMembers("none were given") }
        let validationBatches = validation.batches(epoch: 0, startingAt: 0)
        let batches = try validationBatches.all()
        let labels = batches.flatMap(\.labels)
        guard !labels.isEmpty else { throw EnsembleError.emptyValidation("the validation data") }

        var model: (any BlockStructured)?
        var reference: WeightsAttributes?
        var sums: PredictionSums?
        defer { self.sums = sums }
        var results: [EnsembleEvaluation.Member] = []
        var curves: [EnsembleMethod: [Double]] = [:]
        var kept: [[Float]] = []
        var memberProbabilities: [[Float]] = []
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
                sums = PredictionSums(labels: labels, classes: attributes.numClasses)
            }
            do {
                try model!.load(state, strict: true)
            } catch {
                throw EnsembleError.incompatibleMember(
                    path: member.url.path, reason: "its weights do not load",
                    cause: ErrorCause(error))
            }
            if wantsSWA { try average.add(state, source: member.url.path) }

            let logits = Self.logits(model!, batches: batches, classes: reference!.numClasses)
            var single = PredictionSums(labels: labels, classes: reference!.numClasses)
            single.add(logits: logits)
            let own = single.score(.probs)
            results.append(.init(member: member, accuracy: own.accuracy, loss: own.loss ?? .nan))
            sums!.add(logits: logits)
            for m in predictionMethods { curves[m, default: []].append(sums!.score(m).accuracy) }
            if greedy { kept.append(logits) }
            memberProbabilities.append(Self.softmax(logits, classes: reference!.numClasses))
            log?(
                "member \(index + 1)/\(members.count) \(member.name): accuracy \(String(format: "%.4f", own.accuracy)), "
                    + "loss \(String(format: "%.4f", own.loss ?? .nan))")
        }

        let best = results.indices.max { a, b in
            results[a].accuracy < results[b].accuracy
                || (results[a].accuracy == results[b].accuracy && results[a].loss > results[b].loss)
        }!
        let bestAccuracy = results[best].accuracy
        var outcomes: [EnsembleEvaluation.Outcome] = []
        for m in predictionMethods {
            let s = sums!.score(m)
            outcomes.append(
                .init(
                    label: m.rawValue, method: m, greedy: false, selected: Array(members.indices),
                    accuracy: s.accuracy, loss: s.loss, bestSingleAccuracy: bestAccuracy,
                    accuracyBySize: curves[m] ?? []))
            if greedy {
                let g = GreedySelection.select(logits: kept, labels: labels, classes: reference!.numClasses, method: m)
                outcomes.append(
                    .init(
                        label: m.rawValue + "+greedy", method: m, greedy: true, selected: g.order,
                        accuracy: g.scores.last!.accuracy, loss: g.scores.last!.loss,
                        bestSingleAccuracy: bestAccuracy, accuracyBySize: g.scores.map(\.accuracy)))
            }
        }
        kept = []

        var bnBatches = 0
        if wantsSWA, let model, let reference {
            try model.load(average.average(), strict: true)
            if let training {
                bnBatches = try BatchNormStatistics.recompute(model, batches: training.batches(epoch: 0, startingAt: 0))
            }
            var single = PredictionSums(labels: labels, classes: reference.numClasses)
            single.add(logits: Self.logits(model, batches: batches, classes: reference.numClasses))
            let s = single.score(.probs)
            outcomes.append(
                .init(
                    label: "swa", method: .swa, greedy: false, selected: Array(members.indices),
                    accuracy: s.accuracy, loss: s.loss, bestSingleAccuracy: bestAccuracy,
                    accuracyBySize: [s.accuracy]))
            averagedModel = (model.stateDict(), reference)
            log?(
                "swa of \(members.count) members (BatchNorm statistics from \(bnBatches) training batches): accuracy "
                    + String(format: "%.4f", s.accuracy))
        }
        return EnsembleEvaluation(
            members: results, outcomes: outcomes, samples: labels.count,
            classes: reference!.numClasses, bestMember: best, batchNormBatches: bnBatches,
            diversity: EnsembleDiversity(probabilities: memberProbabilities, classes: reference!.numClasses))
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
