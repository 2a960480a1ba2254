import Foundation
import GraftTensor
import Testing
import TestSupport
@testable import GraftWeights

/// One line of a fixture's `state_dict_keys.txt`: `name<TAB>dtype<TAB>[shape]`.
struct ExpectedEntry: Equatable {
    let name: String
    let dtype: String
    let shape: [Int]

    static func read(_ relative: String) throws -> [ExpectedEntry] {
        let text = try String(contentsOf: Fixtures.url(relative), encoding: .utf8)
        return text.split(separator: "\n").map { line in
            let parts = line.split(separator: "\t", omittingEmptySubsequences: false)
            let dims = parts[2].dropFirst().dropLast().split(separator: ",")
                .compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            return ExpectedEntry(name: String(parts[0]), dtype: String(parts[1]), shape: dims)
        }
    }
}

func entries(of state: StateDict) -> [ExpectedEntry] {
    state.map { ExpectedEntry(name: $0.key, dtype: $0.value.dtypeName, shape: $0.value.shape) }
}

@Suite("PyTorch .pth reader", .enabled(if: TestFiles.fixtures.runs, TestFiles.fixtures.comment))
struct PyTorchCheckpointTests {
    @Test func resnet34KeysDtypesShapes() throws {
        let state = try PyTorchCheckpoint.load(Fixtures.url("resnet34/resnet34-random-seed0.pth"))
        let expected = try ExpectedEntry.read("resnet34/state_dict_keys.txt")
        #expect(state.count == 218)
        #expect(entries(of: state) == expected)
        // The fixture draws BN weight from U(0.5, 1.5), running_var from U(0.5, 2) and sets
        // num_batches_tracked to 100 (fixtures README).
        for (key, value) in state where key.hasSuffix("running_var") || key.contains("bn") && key.hasSuffix("weight") {
            guard case .float(let t) = value else { Issue.record("\(key) is not float"); continue }
            let (lo, hi): (Float, Float) = key.hasSuffix("running_var") ? (0.5, 2) : (0.5, 1.5)
            #expect(t.scalars.allSatisfy { $0 >= lo && $0 <= hi }, "\(key)")
            #expect(Set(t.scalars).count > t.count / 2, "\(key) values are not distinct draws")
        }
        for (key, value) in state where key.hasSuffix("num_batches_tracked") {
            #expect(value == .int64(shape: [], values: [100]), "\(key)")
        }
    }

    @Test func vanillaKeysDtypesShapes() throws {
        let state = try PyTorchCheckpoint.load(Fixtures.url("vanilla_cnn/vanilla-seed0.pth"))
        let expected = try ExpectedEntry.read("vanilla_cnn/state_dict_keys.txt")
        #expect(state.count == 32)
        #expect(entries(of: state) == expected)
        // Default PyTorch BatchNorm init: weight 1, bias 0, running mean 0, var 1, counter 0.
        guard case .float(let w)? = state["features.1.weight"], case .float(let b)? = state["features.1.bias"],
            case .float(let m)? = state["features.1.running_mean"],
            case .float(let v)? = state["features.1.running_var"]
        else { Issue.record("features.1 entries missing"); return }
        #expect(w.scalars.allSatisfy { $0 == 1 } && b.scalars.allSatisfy { $0 == 0 })
        #expect(m.scalars.allSatisfy { $0 == 0 } && v.scalars.allSatisfy { $0 == 1 })
        #expect(state["features.1.num_batches_tracked"] == .int64(shape: [], values: [0]))
    }
}
