import Foundation
import GraftTraining

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
///
/// With test-time augmentation, each of those is weighed with and without it, as the ensemble
/// is weighed against a single checkpoint: the augmented version costs the measured factor more
/// at inference (`EnsembleEvaluation.AugmentationComparison.costFactor`), so it is chosen only
/// when it is more accurate on validation; test figures are only reported.
public struct EnsembleAdvice: Sendable, Codable, Equatable {
    /// What a candidate is: the best single checkpoint, an ensemble, or the SWA model.
    public enum Kind: String, Sendable, Codable {
        case bestSingle = "best_single", ensemble, swa
    }

    /// One model the advisor weighs, with its accuracy on validation (and on test).
    public struct Candidate: Sendable, Codable, Equatable {
        public var kind: Kind
        /// `ckpt 12`, `probs`, `swa`, `probs + tta flip`, …
        public var label: String
        public var validationAccuracy: Double
        public var testAccuracy: Double?
        /// The test-time augmentation it runs with; nil for none.
        public var augmentation: TestTimeAugmentation? = nil
        /// Inference time relative to one model without augmentation (models × augmentation's
        /// measured cost factor): what breaks a tie.
        public var cost: Double = 1
    }

    /// What test-time augmentation gains on validation, and what it costs.
    public struct AugmentationAdvice: Sendable, Codable, Equatable {
        /// One candidate without and with augmentation, on validation.
        public struct Gain: Sendable, Codable, Equatable {
            public var kind: Kind
            /// The candidate without augmentation (`ckpt 12`, `probs`, `swa`).
            public var label: String
            /// Validation accuracy without augmentation.
            public var without: Double
            /// Validation accuracy with augmentation.
            public var with: Double
            /// Accuracy points gained: `(with − without) · 100`.
            public var points: Double { (with - without) * 100 }
        }

        public var augmentation: TestTimeAugmentation
        /// The best single checkpoint, then each ensemble and SWA.
        public var gains: [Gain]
        /// Model seconds per image and model, without and with augmentation.
        public var secondsPerImage: Double
        public var augmentedSecondsPerImage: Double
        /// The measured inference time with augmentation over without.
        public var costFactor: Double
        /// Whether the chosen candidate runs with augmentation: it gained on validation more
        /// than any candidate without it.
        public var recommended: Bool
        /// One sentence for the user.
        public var summary: String
    }

    public var choice: Candidate
    public var candidates: [Candidate]
    /// One or two sentences for the user, saying plainly when the ensemble (or test-time
    /// augmentation) does not pay.
    public var summary: String
    /// What test-time augmentation gains and costs, when the evaluation had it.
    public var testTimeAugmentation: AugmentationAdvice? = nil

    /// Picks on validation. Ties go to the cheaper model: a single checkpoint, then SWA (one
    /// model), then an ensemble (every member at prediction time); with test-time augmentation,
    /// ties go to the candidate of lower measured inference cost, so augmentation must gain to
    /// be chosen.
    /// - Parameter validation: the members and outcomes on the validation split: what the choice is made on.
    /// - Parameter test: the same members evaluated on a test split, or nil. Its figures are
    ///   reported beside the candidates and never change the choice.
    public static func advise(validation: EnsembleEvaluation, test: EnsembleEvaluation?) -> EnsembleAdvice {
        let tta = validation.testTimeAugmentation
        let factor = max(1, tta?.costFactor ?? 1)
        let memberCount = Double(validation.members.count)
        func cost(_ kind: Kind) -> Double { kind == .ensemble ? memberCount : 1 }
        func testOutcome(_ label: String, augmented: Bool) -> Double? {
            guard let test, let i = test.outcomes.firstIndex(where: { $0.label == label }) else { return nil }
            return augmented ? test.outcomes[i].accuracy : test.testTimeAugmentation?.outcomeAccuracy[i]
        }
        // Without augmentation: the only candidates when there is none.
        let plainBest = tta?.bestMember ?? validation.bestMember
        let plainName = validation.members[plainBest].member.name
        var candidates = [
            Candidate(
                kind: .bestSingle, label: plainName,
                validationAccuracy: tta?.memberAccuracy[plainBest] ?? validation.members[plainBest].accuracy,
                testAccuracy: tta == nil
                    ? test.map { $0.members[plainBest].accuracy }
                    : test?.testTimeAugmentation?.memberAccuracy[plainBest])
        ]
        for (i, outcome) in validation.outcomes.enumerated() where !outcome.greedy {
            let kind: Kind = outcome.method == .swa ? .swa : .ensemble
            candidates.append(
                Candidate(
                    kind: kind, label: outcome.label,
                    validationAccuracy: tta?.outcomeAccuracy[i] ?? outcome.accuracy,
                    testAccuracy: testOutcome(outcome.label, augmented: tta == nil), cost: cost(kind)))
        }
        var gains: [AugmentationAdvice.Gain] = []
        if let tta {
            let best = validation.members[validation.bestMember]
            let suffix = " + tta \(tta.augmentation)"
            candidates.append(
                Candidate(
                    kind: .bestSingle, label: best.member.name + suffix, validationAccuracy: best.accuracy,
                    testAccuracy: test.map { $0.members[validation.bestMember].accuracy },
                    augmentation: tta.augmentation, cost: factor))
            gains.append(
                .init(
                    kind: .bestSingle, label: plainName, without: candidates[0].validationAccuracy, with: best.accuracy)
            )
            for (i, outcome) in validation.outcomes.enumerated() where !outcome.greedy {
                let kind: Kind = outcome.method == .swa ? .swa : .ensemble
                candidates.append(
                    Candidate(
                        kind: kind, label: outcome.label + suffix, validationAccuracy: outcome.accuracy,
                        testAccuracy: testOutcome(outcome.label, augmented: true), augmentation: tta.augmentation,
                        cost: cost(kind) * factor))
                gains.append(
                    .init(kind: kind, label: outcome.label, without: tta.outcomeAccuracy[i], with: outcome.accuracy))
            }
        }
        let rank: [Kind: Int] = [.bestSingle: 0, .swa: 1, .ensemble: 2]
        let choice = candidates.min { a, b in
            if a.validationAccuracy != b.validationAccuracy { return a.validationAccuracy > b.validationAccuracy }
            if a.cost != b.cost { return a.cost < b.cost }
            return rank[a.kind]! < rank[b.kind]!
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
                + "\(pct(candidates[0].validationAccuracy)) for the best single checkpoint (\(plainName))."
        }
        if let onTest = choice.testAccuracy, let bestOnTest = candidates[0].testAccuracy {
            summary +=
                " On test: \(pct(onTest))"
                + (choice == candidates[0]
                    ? "."
                    : " against \(pct(bestOnTest)) for that checkpoint ("
                        + String(format: "%+.2f", (onTest - bestOnTest) * 100) + " points).")
        } else {
            summary += " No test split was evaluated: these validation numbers chose the model, so they flatter it."
        }
        var augmentationAdvice: AugmentationAdvice?
        if let tta {
            let recommended = choice.augmentation != nil
            let listed = gains.map {
                "\($0.label) \(pct($0.without)) → \(pct($0.with)) (\(String(format: "%+.2f", $0.points)) points)"
            }
            var line =
                "Test-time augmentation (\(tta.augmentation), \(tta.augmentation.viewCount) views) on validation: "
                + listed.joined(separator: ", ") + String(format: "; it takes %.1f× the inference time", tta.costFactor)
                + String(
                    format: " (%.3f → %.3f ms per image and model).",
                    tta.secondsPerImage * 1000, tta.augmentedSecondsPerImage * 1000)
            if recommended {
                line += " It pays: use \(choice.label)."
            } else {
                line += " It does not pay here: \(choice.label) without it is at least as accurate on validation."
            }
            summary += " " + line
            augmentationAdvice = AugmentationAdvice(
                augmentation: tta.augmentation, gains: gains, secondsPerImage: tta.secondsPerImage,
                augmentedSecondsPerImage: tta.augmentedSecondsPerImage, costFactor: tta.costFactor,
                recommended: recommended, summary: line)
        }
        return EnsembleAdvice(
            choice: choice, candidates: candidates, summary: summary, testTimeAugmentation: augmentationAdvice)
    }
}
