import Foundation
import GraftNN
import GraftTensor
import Testing

/// A two-level module tree with a parameter, a float buffer and an int64 buffer per layer,
/// independent of the real models.
final class TinyLayer: Module {
    let weight: Parameter
    let runningMean: Buffer
    let counter = Buffer(.int64(shape: [], values: [0]))

    init(_ n: Int) {
        weight = Parameter(Tensor(shape: [n, 2], repeating: 0))
        runningMean = Buffer(.float(Tensor(shape: [n], repeating: 0)))
    }

    override var ownParameters: [(name: String, parameter: Parameter)] { [("weight", weight)] }
    override var ownBuffers: [(name: String, buffer: Buffer)] {
        [("running_mean", runningMean), ("num_batches_tracked", counter)]
    }
}

final class TinyNet: Module {
    let body = TinyLayer(3)
    let fc: TinyLayer
    init(classes: Int) { fc = TinyLayer(classes) }
    override var children: [(name: String, module: Module)] { [("body", body), ("fc", fc)] }
}

private func filled(_ shape: [Int], start: Float) -> StateValue {
    let n = shape.reduce(1, *)
    return .float(Tensor(shape: shape, scalars: (0..<n).map { start + Float($0) }))
}

private func source(classes: Int) -> StateDict {
    StateDict([
        ("body.weight", filled([3, 2], start: 1)),
        ("body.running_mean", filled([3], start: 10)),
        ("body.num_batches_tracked", .int64(shape: [], values: [42])),
        ("fc.weight", filled([classes, 2], start: 100)),
        ("fc.running_mean", filled([classes], start: 200)),
        ("fc.num_batches_tracked", .int64(shape: [], values: [7])),
    ])
}

@Suite("strict and partial loading")
struct ModuleLoadingTests {
    @Test func strictLoadAssignsEverything() throws {
        let net = TinyNet(classes: 4)
        let state = source(classes: 4)
        let report = try net.load(state)
        #expect(report.isComplete)
        #expect(report.loaded == state.keys)
        #expect(net.stateDict() == state)
        #expect(net.body.counter.value == .int64(shape: [], values: [42]))
    }

    @Test func strictErrorListsEveryProblemAndAssignsNothing() throws {
        let net = TinyNet(classes: 4)
        var state = source(classes: 5)  // fc shapes differ
        state["body.running_mean"] = nil  // missing
        state["extra.bias"] = filled([1], start: 0)  // unexpected
        state["body.num_batches_tracked"] = filled([], start: 1)  // dtype differs
        let before = net.stateDict()
        do {
            try net.load(state)
            Issue.record("strict load accepted mismatching weights")
        } catch let error as WeightLoadingError {
            // An exhaustive switch, not `guard case … else { return }`: every error is checked.
            switch error {
            case .incompatible(let missing, let unexpected, let mismatched):
                #expect(missing == ["body.running_mean"])
                #expect(unexpected == ["extra.bias"])
                #expect(mismatched.map(\.key) == ["body.num_batches_tracked", "fc.weight", "fc.running_mean"])
                try #require(mismatched.count == 3)
                #expect(mismatched[1].expectedShape == [4, 2] && mismatched[1].foundShape == [5, 2])
            }
            let text = error.localizedDescription
            for key in ["body.running_mean", "extra.bias", "fc.weight", "fc.running_mean", "body.num_batches_tracked"] {
                #expect(text.contains(key), "message lacks \(key): \(text)")
            }
        }
        #expect(net.stateDict() == before)
    }

    @Test func partialLoadSkipsExactlyTheNewHead() throws {
        let net = TinyNet(classes: 5)
        let headBefore = net.fc.weight.value
        let report = try net.load(source(classes: 1000), strict: false)
        #expect(
            report.loaded == ["body.weight", "body.running_mean", "body.num_batches_tracked", "fc.num_batches_tracked"])
        #expect(report.mismatched.map(\.key) == ["fc.weight", "fc.running_mean"])
        #expect(report.missing.isEmpty && report.unexpected.isEmpty)
        #expect(net.fc.weight.value.isBitwiseEqual(to: headBefore))
        #expect(net.body.weight.value.scalars == [1, 2, 3, 4, 5, 6])
    }

    @Test func skippingAPrefixIsAllowedInStrictMode() throws {
        let net = TinyNet(classes: 5)
        let report = try net.load(source(classes: 1000), skipping: ["fc"])
        // Keys on both sides are listed once.
        #expect(report.skipped == ["fc.weight", "fc.running_mean", "fc.num_batches_tracked"])
        #expect(report.loaded.count == 3)
        #expect(report.missing.isEmpty && report.unexpected.isEmpty && report.mismatched.isEmpty)
    }
}
