import Foundation
import GraftSupport
import GraftTensor
import Testing
import TestSupport
@testable import GraftWeights

func sampleAttributes(_ id: String = "vanilla-cnn", classes: Int = 5) -> WeightsAttributes {
    WeightsAttributes(
        modelID: id, architecture: "vanilla_cnn", numClasses: classes,
        classNames: (0..<classes).map { "class \($0) ünïcode" }, inputSize: [3, 128, 128],
        mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], sourceFile: "vanilla-seed0.pth",
        sourceSHA256: String(repeating: "ab", count: 32), convertedAt: "2026-01-02T03:04:05Z")
}

@Suite("HDF5 weights files")
struct WeightsFileTests {
    @Test(.enabled(if: TestFiles.fixtures.runs, TestFiles.fixtures.comment))
    func resnet34RoundTripIsBitExact() throws {
        let dir = try TemporaryDirectory.make("graft-weights")
        defer { TemporaryDirectory.remove(dir) }
        let state = try PyTorchCheckpoint.load(Fixtures.url("resnet34/resnet34-random-seed0.pth"))
        let url = dir.appendingPathComponent("resnet34.h5")
        let attributes = sampleAttributes("resnet34", classes: 1000)
        try WeightsFile.write(state, attributes: attributes, to: url)
        let (loaded, readAttributes) = try WeightsFile.read(url)
        #expect(loaded.keys == state.keys)
        #expect(loaded == state)
        #expect(readAttributes == attributes)
        // Only the final file is left in the directory.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["resnet34.h5"])
    }

    @Test func float64AndFloat16DatasetsAreConverted() throws {
        let dir = try TemporaryDirectory.make("graft-weights")
        defer { TemporaryDirectory.remove(dir) }
        let url = dir.appendingPathComponent("mixed.h5")
        // Values exactly representable in half precision, so the expected floats are exact.
        let values: [Float] = [1, -2.5, 0.099975586, 65504, -0.000061035156, 3]
        let tensor = Tensor(shape: [2, 3], scalars: values)
        do {
            let file = try HDF5File.create(url)
            let root = try file.group("/", create: false)
            try file.writeArray(.float(tensor), name: "as64", in: root, floatStorage: .float64)
            try file.writeArray(.float(tensor), name: "as16", in: root, floatStorage: .float16)
        }
        let entries = try WeightsFile.entries(in: url)
        #expect(entries.map(\.storedType) == ["float16", "float64"])
        let (state, _) = try WeightsFile.read(url)
        #expect(state["as64"] == .float(tensor))
        #expect(state["as16"] == .float(tensor))
    }

    @Test func extraGroupsRoundTrip() throws {
        let dir = try TemporaryDirectory.make("graft-weights")
        defer { TemporaryDirectory.remove(dir) }
        let url = dir.appendingPathComponent("ckpt.h5")
        let weights = StateDict([("w", .float(Tensor(shape: [2], scalars: [1, 2])))])
        let group = HDF5Group(
            name: "optimizer",
            arrays: StateDict([
                ("z.momentum", .float(Tensor(shape: [3], scalars: [0.5, 0.25, -1]))),
                ("a.step", .int64(shape: [], values: [12])),
            ]),
            attributes: [
                "kind": .string("sgd"), "lr": .double(0.01), "epoch": .int(3), "betas": .doubles([0.9, 0.999]),
            ])
        try WeightsFile.write(weights, attributes: sampleAttributes(), groups: [group], to: url)
        #expect(try WeightsFile.groupNames(in: url) == ["optimizer"])
        let back = try WeightsFile.readGroup("optimizer", from: url)
        #expect(back == group)
        #expect(back.arrays.keys == ["z.momentum", "a.step"])
        #expect(try WeightsFile.read(url).state == weights)
        #expect(throws: WeightsError.self) { try WeightsFile.readGroup("missing", from: url) }
    }

    @Test func failedWriteLeavesNothingBehind() throws {
        let dir = try TemporaryDirectory.make("graft-weights")
        defer { TemporaryDirectory.remove(dir) }
        let url = dir.appendingPathComponent("bad.h5")
        let state = StateDict([
            ("ok", .float(Tensor(shape: [1], scalars: [1]))), ("a/b", .float(Tensor(shape: [1], scalars: [2]))),
        ])
        #expect(throws: WeightsError.self) { try WeightsFile.write(state, attributes: sampleAttributes(), to: url) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        let missingDir = dir.appendingPathComponent("nope/out.h5")
        #expect(throws: WeightsError.self) {
            try WeightsFile.write(state, attributes: sampleAttributes(), to: missingDir)
        }
    }

    @Test(.enabled(if: TestFiles.fixtures.runs, TestFiles.fixtures.comment))
    func badFilesGiveOneClearError() throws {
        let dir = try TemporaryDirectory.make("graft-weights")
        defer { TemporaryDirectory.remove(dir) }
        let good = dir.appendingPathComponent("good.h5")
        let state = try PyTorchCheckpoint.load(Fixtures.url("vanilla_cnn/vanilla-seed0.pth"))
        try WeightsFile.write(state, attributes: sampleAttributes(), to: good)
        let bytes = try Data(contentsOf: good)
        for fraction in [0.02, 0.5, 0.97] {
            let truncated = dir.appendingPathComponent("truncated-\(fraction).h5")
            try bytes.prefix(Int(Double(bytes.count) * fraction)).write(to: truncated)
            do {
                _ = try WeightsFile.read(truncated)
                Issue.record("truncated file (\(fraction)) was read")
            } catch let error as WeightsError {
                #expect(error.localizedDescription.contains(truncated.path), "\(error.localizedDescription)")
            }
        }
        let notHDF5 = dir.appendingPathComponent("text.h5")
        try Data("hello".utf8).write(to: notHDF5)
        #expect(
            throws: WeightsError.corrupt(
                path: notHDF5.path, reason: "not an HDF5 file (or truncated before its superblock)")
        ) {
            try WeightsFile.read(notHDF5)
        }
        let missing = dir.appendingPathComponent("absent.h5")
        #expect(throws: WeightsError.fileNotFound(path: missing.path)) { try WeightsFile.read(missing) }
    }

    @Test(.enabled(if: TestFiles.fixturesAndH5dump.runs, TestFiles.fixturesAndH5dump.comment))
    func h5dumpShowsTheSameNumbers() throws {
        try TestFiles.fixturesAndH5dump.require()
        let dir = try TemporaryDirectory.make("graft-weights")
        defer { TemporaryDirectory.remove(dir) }
        let url = dir.appendingPathComponent("vanilla.h5")
        let state = try PyTorchCheckpoint.load(Fixtures.url("vanilla_cnn/vanilla-seed0.pth"))
        try WeightsFile.write(state, attributes: sampleAttributes(), to: url)
        for key in ["features.0.weight", "classifier.5.bias"] {
            let dump = try TestFiles.run(["h5dump", "-m", "%.9g", "-d", "/\(key)", url.path])
            #expect(dump.status == 0, "\(dump.err)")
            #expect(dump.out.contains("H5T_IEEE_F32LE"))
            guard let data = dump.out.range(of: "DATA {") else { Issue.record("no DATA in h5dump output"); continue }
            // Lines look like "(0,0,0,0): 0.1, -0.2, ..." — drop the index prefixes, keep the numbers.
            let numbers = dump.out[data.upperBound...].split(separator: "\n").flatMap { line -> [Float] in
                let body = line.split(separator: ":", maxSplits: 1).last ?? ""
                return body.split(separator: ",").compactMap { Float($0.trimmingCharacters(in: .whitespaces)) }
            }
            guard case .float(let t)? = state[key] else { Issue.record("\(key) missing"); continue }
            #expect(numbers == t.scalars, "\(key)")
        }
        let counter = try TestFiles.run(["h5dump", "-d", "/features.1.num_batches_tracked", url.path]).out
        #expect(counter.contains("H5T_STD_I64LE") && counter.contains("SCALAR"))
    }
}
