import Foundation

/// Running sums of the members' predictions on a fixed, ordered set of samples: summed softmax
/// probabilities, summed logits and vote counts, each `[count, classes]`.
///
/// Members are added one at a time and need not be kept: memory is the three sums however many
/// members there are. All sums are float64 so the order of members does not matter to rounding.
public struct PredictionSums: Sendable {
    public let count: Int
    public let classes: Int
    public let labels: [Int]
    public private(set) var members = 0
    private var probabilitySum: [Double]
    private var logitSum: [Double]
    private var votes: [Int32]

    /// - Precondition: every label is in `0..<classes`.
    public init(labels: [Int], classes: Int) {
        precondition(classes > 0 && labels.allSatisfy { $0 >= 0 && $0 < classes }, "labels outside 0..<\(classes)")
        self.count = labels.count
        self.classes = classes
        self.labels = labels
        probabilitySum = [Double](repeating: 0, count: labels.count * classes)
        logitSum = [Double](repeating: 0, count: labels.count * classes)
        votes = [Int32](repeating: 0, count: labels.count * classes)
    }

    /// Adds one member's logits, `[count, classes]` row-major.
    /// - Precondition: `logits.count == count * classes`.
    public mutating func add(logits: [Float]) {
        add(logits: logits, probabilities: nil)
    }

    /// Adds one member's outputs under test-time augmentation: its logits averaged over the views
    /// (what `logits` averages) and its probabilities averaged over the views (what `probs`
    /// averages, and whose arg-max is the member's vote), both `[count, classes]` row-major.
    /// Nil `probabilities` takes the softmax of `logits`.
    /// - Parameters:
    ///   - logits: the member's logits (averaged over the views), `[count, classes]`.
    ///   - probabilities: the member's probabilities averaged over the views, or nil.
    /// - Precondition: both hold `count * classes` values.
    public mutating func add(logits: [Float], probabilities: [Float]?) {
        precondition(logits.count == count * classes, "\(logits.count) logits for \(count)×\(classes)")
        if let probabilities {
            precondition(probabilities.count == count * classes, "\(probabilities.count) probabilities")
            let c = classes
            for i in 0..<count {
                var arg = 0
                for j in 0..<c {
                    probabilitySum[i * c + j] += Double(probabilities[i * c + j])
                    logitSum[i * c + j] += Double(logits[i * c + j])
                    if probabilities[i * c + j] > probabilities[i * c + arg] { arg = j }
                }
                votes[i * c + arg] += 1
            }
            members += 1
            return
        }
        let c = classes
        logits.withUnsafeBufferPointer { zb in
            probabilitySum.withUnsafeMutableBufferPointer { pb in
                logitSum.withUnsafeMutableBufferPointer { lb in
                    votes.withUnsafeMutableBufferPointer { vb in
                        let z = zb.baseAddress!, p = pb.baseAddress!, l = lb.baseAddress!, v = vb.baseAddress!
                        for i in 0..<count {
                            let row = z + i * c
                            var maxValue = row[0], arg = 0
                            for j in 1..<c where row[j] > maxValue { maxValue = row[j]; arg = j }
                            var sum = 0.0
                            for j in 0..<c { sum += exp(Double(row[j] - maxValue)) }
                            let logSum = log(sum) + Double(maxValue)
                            for j in 0..<c {
                                p[i * c + j] += exp(Double(row[j]) - logSum)
                                l[i * c + j] += Double(row[j])
                            }
                            v[i * c + arg] += 1
                        }
                    }
                }
            }
        }
        members += 1
    }

    /// The combined probabilities of a prediction method, `[count, classes]` (votes: vote
    /// shares).
    /// - Precondition: at least one member, and `method.combinesPredictions`.
    public func probabilities(_ method: EnsembleMethod) -> [Double] {
        precondition(members > 0 && method.combinesPredictions, "no members or not a prediction method")
        let m = Double(members), c = classes
        switch method {
        case .probs:
            return probabilitySum.map { $0 / m }
        case .vote:
            return votes.map { Double($0) / m }
        case .logits, .swa:
            var out = [Double](repeating: 0, count: count * c)
            for i in 0..<count {
                var maxValue = -Double.infinity
                for j in 0..<c { maxValue = max(maxValue, logitSum[i * c + j] / m) }
                var sum = 0.0
                for j in 0..<c { sum += exp(logitSum[i * c + j] / m - maxValue) }
                for j in 0..<c { out[i * c + j] = exp(logitSum[i * c + j] / m - maxValue) / sum }
            }
            return out
        }
    }

    /// The predicted class of every sample. Votes break ties by summed probability, then by
    /// the lowest class index; the other methods take the first maximum.
    public func predictions(_ method: EnsembleMethod) -> [Int] {
        precondition(members > 0 && method.combinesPredictions, "no members or not a prediction method")
        let c = classes
        var result = [Int](repeating: 0, count: count)
        for i in 0..<count {
            var best = 0
            for j in 1..<c {
                let k = i * c + j, b = i * c + best
                switch method {
                case .probs:
                    if probabilitySum[k] > probabilitySum[b] { best = j }
                case .logits, .swa:
                    if logitSum[k] > logitSum[b] { best = j }
                case .vote:
                    if votes[k] > votes[b] || (votes[k] == votes[b] && probabilitySum[k] > probabilitySum[b]) {
                        best = j
                    }
                }
            }
            result[i] = best
        }
        return result
    }

    /// Accuracy and loss of the combined prediction. The loss is the mean negative
    /// log-likelihood of the combined probabilities (mean probabilities for `probs`, the softmax
    /// of the mean logits for `logits`); votes have no loss of their own (nil).
    public func score(_ method: EnsembleMethod) -> EnsembleScore {
        let predicted = predictions(method)
        var correct = 0
        for i in 0..<count where predicted[i] == labels[i] { correct += 1 }
        let accuracy = Double(correct) / Double(max(1, count))
        guard method != .vote else { return EnsembleScore(accuracy: accuracy, loss: nil, correct: correct) }
        let m = Double(members), c = classes
        var nll = 0.0
        for i in 0..<count {
            let label = labels[i]
            if method == .probs {
                nll -= log(max(probabilitySum[i * c + label] / m, Double.leastNormalMagnitude))
            } else {
                var maxValue = -Double.infinity
                for j in 0..<c { maxValue = max(maxValue, logitSum[i * c + j] / m) }
                var sum = 0.0
                for j in 0..<c { sum += exp(logitSum[i * c + j] / m - maxValue) }
                nll += log(sum) + maxValue - logitSum[i * c + label] / m
            }
        }
        return EnsembleScore(accuracy: accuracy, loss: nll / Double(max(1, count)), correct: correct)
    }

    /// The score used to rank candidate sets: accuracy first, then the mean NLL of the averaged
    /// probabilities (for votes too, whose own loss is undefined), lower being better.
    func rankingScore(_ method: EnsembleMethod) -> (correct: Int, loss: Double) {
        let s = score(method)
        let loss = s.loss ?? score(.probs).loss ?? .infinity
        return (s.correct, loss)
    }
}

/// Greedy ensemble selection (Caruana et al. 2004, without replacement).
public enum GreedySelection {
    /// The members chosen, in the order they were added, and the ensemble's score after each.
    public struct Result: Sendable, Equatable {
        public var order: [Int]
        public var scores: [EnsembleScore]
    }

    /// Starts from the best single member and repeatedly adds the member that improves the
    /// ensemble most; stops when no remaining member improves it.
    ///
    /// "Better" means more correct predictions, or as many and a lower mean NLL of the averaged
    /// probabilities (for `logits`, of the softmax of the averaged logits). Ties between
    /// candidates go to the earliest member.
    /// - Parameters:
    ///   - labels: the true class of each of the `count` samples.
    ///   - classes: the number of classes.
    ///   - method: how members are combined: `probs`, `logits` or `vote`.
    ///   - logits: one `[count, classes]` row-major array per member.
    ///   - probabilities: under test-time augmentation, each member's probabilities averaged over
    ///     the views (its `logits` being the logits averaged over the views); nil takes the softmax
    ///     of `logits`.
    /// - Precondition: at least one member; `method.combinesPredictions`.
    public static func select(
        logits: [[Float]], probabilities: [[Float]]? = nil, labels: [Int], classes: Int, method: EnsembleMethod
    ) -> Result {
        func add(_ i: Int, to sums: inout PredictionSums) {
            sums.add(logits: logits[i], probabilities: probabilities?[i])
        }
        precondition(
            !logits.isEmpty && method.combinesPredictions, "greedy selection needs members and a prediction method")
        func isBetter(_ a: (correct: Int, loss: Double), than b: (correct: Int, loss: Double)) -> Bool {
            a.correct > b.correct || (a.correct == b.correct && a.loss < b.loss)
        }
        var bestStart: (index: Int, sums: PredictionSums, rank: (correct: Int, loss: Double))?
        for i in logits.indices {
            var sums = PredictionSums(labels: labels, classes: classes)
            add(i, to: &sums)
            let rank = sums.rankingScore(method)
            if bestStart == nil || isBetter(rank, than: bestStart!.rank) { bestStart = (i, sums, rank) }
        }
        var current = bestStart!.sums
        var rank = bestStart!.rank
        var order = [bestStart!.index]
        var scores = [current.score(method)]
        while order.count < logits.count {
            var best: (index: Int, sums: PredictionSums, rank: (correct: Int, loss: Double))?
            for i in logits.indices where !order.contains(i) {
                var trial = current
                add(i, to: &trial)
                let r = trial.rankingScore(method)
                if best == nil || isBetter(r, than: best!.rank) { best = (i, trial, r) }
            }
            guard let chosen = best, isBetter(chosen.rank, than: rank) else { break }
            current = chosen.sums
            rank = chosen.rank
            order.append(chosen.index)
            scores.append(current.score(method))
        }
        return Result(order: order, scores: scores)
    }
}
