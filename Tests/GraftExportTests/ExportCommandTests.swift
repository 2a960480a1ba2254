import Foundation
import GraftCatalog
import GraftExport
import GraftModels
import GraftTensor
import GraftWeights
import Testing
import TestSupport

/// `graft export` run as a user runs it: each source (a weights file, a checkpoint, a run's best),
/// and each refusal, with its message and no file left behind.
@Suite(
    "graft export", .enabled(if: ExportTestSupport.graft.runs, ExportTestSupport.graft.comment))
struct ExportCommandTests {
    func run(_ arguments: [String], in dir: URL) throws -> ProcessOutcome {
        try ExportTestSupport.graft.require()
        return try ChildProcess.run(try #require(ExportTestSupport.graftBinary), arguments, directory: dir)
    }

    func weights(in dir: URL, architecture: Architecture = .vanillaCNN, recorded: String? = nil) throws -> URL {
        let model = VanillaCNN(numClasses: 3, seed: 2)
        let url = dir.appendingPathComponent("in.h5")
        let attributes = WeightsAttributes(
            modelID: "v", architecture: recorded ?? architecture.rawValue, numClasses: 3,
            classNames: ["a", "b", "c"], inputSize: [3, 32, 32], mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25])
        try WeightsFile.write(model.stateDict(), attributes: attributes, to: url)
        return url
    }

    @Test func aWeightsFileWithItsZooModel() throws {
        let dir = try TemporaryDirectory.make("graft-export-cli")
        defer { TemporaryDirectory.remove(dir) }
        let input = try weights(in: dir)
        let result = try run(
            [
                "export", "--model", "vanilla-cnn", "--weights", input.path, "--format", "safetensors", "--output",
                "m.safetensors",
            ],
            in: dir)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(
            result.stdout.contains(
                "wrote m.safetensors as safetensors from \(input.path): vanilla-cnn, 3 classes (a, b, c)"))
        #expect(try Safetensors.load(dir.appendingPathComponent("m.safetensors")) == WeightsFile.read(input).state)

        // Again: refused, naming the file and --force; then --force replaces it.
        let again = try run(
            ["export", "--weights", input.path, "--format", "onnx", "--output", "m.safetensors"], in: dir)
        #expect(again.status != 0)
        #expect(again.stderr.contains("m.safetensors already exists (overwrite it with --force)"), "\(again.stderr)")
        let forced = try run(
            ["export", "--weights", input.path, "--format", "onnx", "--output", "m.safetensors", "--force"], in: dir)
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(forced.stdout.contains("as onnx (opset 13)"))
    }

    @Test func aZooModelsOwnWeights() throws {
        let dir = try TemporaryDirectory.make("graft-export-cli")
        defer { TemporaryDirectory.remove(dir) }
        let missing = try run(["export", "--model", "vanilla-cnn", "--format", "onnx", "--output", "m.onnx"], in: dir)
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("model 'vanilla-cnn' has no weights at"), "\(missing.stderr)")
        // The card's weights file in ./Weights, where `graft convert` and `models publish` put it.
        try FileManager.default.createDirectory(
            at: dir.appendingPathComponent("Weights"), withIntermediateDirectories: true)
        let input = try weights(in: dir)
        let installed = dir.appendingPathComponent("Weights/vanilla-cnn.h5")
        try FileManager.default.moveItem(at: input, to: installed)
        let result = try run(
            ["export", "--model", "vanilla-cnn", "--format", "safetensors", "--output", "m.safetensors"], in: dir)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("from \(installed.path): vanilla-cnn, 3 classes"), "\(result.stdout)")
        #expect(try Safetensors.load(dir.appendingPathComponent("m.safetensors")) == WeightsFile.read(installed).state)
    }

    @Test func refusalsNameTheValueAndLeaveNoFile() throws {
        let dir = try TemporaryDirectory.make("graft-export-cli")
        defer { TemporaryDirectory.remove(dir) }
        let input = try weights(in: dir, recorded: "resnet50")
        let format = try run(["export", "--weights", input.path, "--format", "tflite", "--output", "m.x"], in: dir)
        #expect(format.status != 0)
        #expect(format.stderr.contains("'tflite'") && format.stderr.contains("safetensors"), "\(format.stderr)")
        let arch = try run(["export", "--weights", input.path, "--format", "onnx", "--output", "m.onnx"], in: dir)
        #expect(arch.status != 0)
        #expect(arch.stderr.contains("cannot export architecture 'resnet50'"), "\(arch.stderr)")
        let both = try run(
            ["export", "--weights", input.path, "--checkpoint", "1", "--format", "onnx", "--output", "m.onnx"], in: dir)
        #expect(both.status != 0)
        #expect(
            both.stderr.contains("give one of: --checkpoint ID, --run R, --weights FILE or --model ID"),
            "\(both.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["in.h5"])
    }

    @Test func aCheckpointAndARunsBest() throws {
        let dir = try TemporaryDirectory.make("graft-export-cli")
        defer { TemporaryDirectory.remove(dir) }
        let catalogPath = dir.appendingPathComponent("catalog.sqlite").path
        let catalog = try Catalog.open(at: catalogPath)
        let runRecord = try catalog.createRun(
            RunRecord(
                modelId: "vanilla-cnn", optimizer: "adam", optimizerParams: #"{"lr":0.001}"#, schedule: "constant",
                seed: 1, batchSize: 32, epochsPlanned: 2))
        let runId = try #require(runRecord.id)
        var states: [Int64: StateDict] = [:]
        for (epoch, acc) in [(1, 0.5), (2, 0.75)] {
            let model = VanillaCNN(numClasses: 3, seed: UInt64(epoch))
            let attributes = WeightsAttributes(
                modelID: "vanilla-cnn", architecture: "vanilla-cnn", numClasses: 3, classNames: ["a", "b", "c"],
                inputSize: [3, 32, 32], mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25])
            let record = try catalog.saveCheckpoint(
                CheckpointRecord(
                    runId: runId, epoch: epoch, globalStep: Int64(epoch * 10), lr: 0.01, cycleIndex: nil,
                    isMinimum: false, valLoss: 1, valAcc: acc, reasons: [.periodic])
            ) { temp in try WeightsFile.write(model.stateDict(), attributes: attributes, to: temp, atomically: false) }
            states[try #require(record.id)] = model.stateDict()
        }
        let best = try run(
            [
                "export", "--catalog", catalogPath, "--run", String(runId), "--best", "val_acc", "--format",
                "safetensors",
                "--output", "best.safetensors",
            ], in: dir)
        #expect(best.status == 0, "\(best.stderr)")
        let bestId = try #require(states.keys.max())
        #expect(best.stdout.contains("from checkpoint \(bestId)"), "\(best.stdout)")
        #expect(try Safetensors.load(dir.appendingPathComponent("best.safetensors")) == states[bestId])
        let first = try #require(states.keys.min())
        let one = try run(
            [
                "export", "--catalog", catalogPath, "--checkpoint", String(first), "--format", "onnx", "--output",
                "c.onnx",
            ],
            in: dir)
        #expect(one.status == 0, "\(String(one.stderr))")
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("c.onnx").path))
    }
}
