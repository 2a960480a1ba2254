import Foundation

/// How differently the members of an ensemble predict: an ensemble can only beat its best member
/// where the members disagree. Both matrices are symmetric, members × members, with the members in
/// evaluation order.
public struct EnsembleDiversity: Sendable, Codable, Equatable {
    /// Fraction of samples whose predicted class (arg-max) differs between members i and j.
    public var disagreement: [[Double]]
    /// Pearson correlation of the two members' predicted probabilities, over every sample and
    /// class: 1 for members that predict alike.
    public var correlation: [[Double]]

    public init(disagreement: [[Double]], correlation: [[Double]]) {
        self.disagreement = disagreement
        self.correlation = correlation
    }

    /// - Parameter classes: the number of classes.
    /// - Parameter probabilities: each member's softmax probabilities, `[samples, classes]`
    ///   row-major, all of the same length.
    /// - Precondition: every member has `samples · classes` values.
    public init(probabilities: [[Float]], classes: Int) {
        let m = probabilities.count
        let samples = (probabilities.first?.count ?? 0) / max(1, classes)
        precondition(
            probabilities.allSatisfy { $0.count == samples * classes }, "members predict different sample counts")
        let predicted = probabilities.map { p in
            (0..<samples).map { i in
                var best = 0
                for c in 1..<classes where p[i * classes + c] > p[i * classes + best] { best = c }
                return best
            }
        }
        // Centred values and norms, once per member.
        let centred: [[Double]] = probabilities.map { p in
            let mean = p.reduce(0.0) { $0 + Double($1) } / Double(max(1, p.count))
            return p.map { Double($0) - mean }
        }
        let norms = centred.map { v in v.reduce(0.0) { $0 + $1 * $1 }.squareRoot() }
        var disagreement = [[Double]](repeating: [Double](repeating: 0, count: m), count: m)
        var correlation = [[Double]](repeating: [Double](repeating: 1, count: m), count: m)
        for i in 0..<m {
            for j in (i + 1)..<max(i + 1, m) {
                let differ = zip(predicted[i], predicted[j]).reduce(0) { $0 + ($1.0 != $1.1 ? 1 : 0) }
                disagreement[i][j] = Double(differ) / Double(max(1, samples))
                disagreement[j][i] = disagreement[i][j]
                var dot = 0.0
                for k in centred[i].indices { dot += centred[i][k] * centred[j][k] }
                let r = norms[i] > 0 && norms[j] > 0 ? dot / (norms[i] * norms[j]) : .nan
                correlation[i][j] = r
                correlation[j][i] = r
            }
        }
        self.init(disagreement: disagreement, correlation: correlation)
    }

    /// Mean of the off-diagonal entries of a matrix (nil for one member).
    static func meanOffDiagonal(_ matrix: [[Double]]) -> Double? {
        let m = matrix.count
        guard m > 1 else { return nil }
        var sum = 0.0
        for i in 0..<m { for j in 0..<m where i != j { sum += matrix[i][j] } }
        return sum / Double(m * (m - 1))
    }

    public var meanDisagreement: Double? { Self.meanOffDiagonal(disagreement) }
    public var meanCorrelation: Double? { Self.meanOffDiagonal(correlation) }
}

/// The advisor's pick between the best single checkpoint, the SWA model and each ensemble:
/// chosen on validation, reported on test (when the job has a test split), so the choice is not
/// graded on the data it was made on.
public struct EnsembleAdvice: Sendable, Codable, Equatable {
    /// What a candidate is: the best single checkpoint, an ensemble, or the SWA model.
    public enum Kind: String, Sendable, Codable {
        case bestSingle = "best_single", ensemble, swa
    }

    /// One model the advisor weighs, with its accuracy on validation (and on test).
    public struct Candidate: Sendable, Codable, Equatable {
        public var kind: Kind
        /// `ckpt 12`, `probs`, `swa`, …
        public var label: String
        public var validationAccuracy: Double
        public var testAccuracy: Double?
    }

    public var choice: Candidate
    public var candidates: [Candidate]
    /// One or two sentences for the user, saying plainly when the ensemble does not pay.
    public var summary: String

    /// Picks on validation. Ties go to the cheaper model: a single checkpoint, then SWA (one
    /// model), then an ensemble (every member at prediction time).
    /// - Parameter validation: the members and outcomes on the validation split: what the choice is made on.
    /// - Parameter test: the same members evaluated on a test split, or nil.
    public static func advise(validation: EnsembleEvaluation, test: EnsembleEvaluation?) -> EnsembleAdvice {
        let best = validation.members[validation.bestMember]
        var candidates = [
            Candidate(
                kind: .bestSingle, label: best.member.name, validationAccuracy: best.accuracy,
                testAccuracy: test.map { $0.members[validation.bestMember].accuracy })
        ]
        for outcome in validation.outcomes where !outcome.greedy {
            let onTest = test?.outcomes.first { $0.label == outcome.label }?.accuracy
            candidates.append(
                Candidate(
                    kind: outcome.method == .swa ? .swa : .ensemble, label: outcome.label,
                    validationAccuracy: outcome.accuracy, testAccuracy: onTest))
        }
        let cost: [Kind: Int] = [.bestSingle: 0, .swa: 1, .ensemble: 2]
        let choice = candidates.min { a, b in
            a.validationAccuracy != b.validationAccuracy
                ? a.validationAccuracy > b.validationAccuracy
                : cost[a.kind]! < cost[b.kind]!
        }!
        func pct(_ x: Double) -> String { String(format: "%.2f%%", x * 100) }
        var summary: String
        switch choice.kind {
        case .bestSingle:
            let strongest = candidates.filter { $0.kind != .bestSingle }.max {
                $0.validationAccuracy < $1.validationAccuracy
            }
            summary =
                "The ensemble does not pay here: the best single checkpoint (\(choice.label), validation "
                + "\(pct(choice.validationAccuracy))) is at least as good as "
                + (strongest.map { "\($0.label) (\(pct($0.validationAccuracy)))" } ?? "any combination")
                + "; use the checkpoint alone."
        case .ensemble, .swa:
            summary =
                "Use \(choice.label): validation \(pct(choice.validationAccuracy)) against "
                + "\(pct(best.accuracy)) for the best single checkpoint (\(best.member.name))."
        }
        if let onTest = choice.testAccuracy, let bestOnTest = candidates[0].testAccuracy {
            summary +=
                " On test: \(pct(onTest))"
                + (choice.kind == .bestSingle
                    ? "."
                    : " against \(pct(bestOnTest)) for that checkpoint ("
                        + String(format: "%+.2f", (onTest - bestOnTest) * 100) + " points).")
        } else {
            summary += " No test split was evaluated: these validation numbers chose the model, so they flatter it."
        }
        return EnsembleAdvice(choice: choice, candidates: candidates, summary: summary)
    }
}
