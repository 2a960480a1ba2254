import ArgumentParser
import Foundation
import GraftCatalog
import GraftExport
import GraftTraining
import GraftZoo

/// `graft export`: a model as a file other tools run — safetensors (PyTorch's `state_dict` keys,
/// the card in `__metadata__`) or ONNX (opset 13, dynamic batch, the card in `metadata_props`).
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a model as safetensors or ONNX, with its card (classes, input size, normalisation).",
        discussion: """
            What to export: a catalog checkpoint (--checkpoint ID), a run's best (--run R --best val_acc),
            or a weights file (--weights FILE.h5, with --model ID to take the architecture and class
            names from a zoo card), such as converted torchvision weights or an SWA model written by
            graft ensemble --output.
            """)

    @OptionGroup var catalog: CatalogOptions
    @Option(help: "A catalog checkpoint id.") var checkpoint: Int64?
    @Option(name: .customLong("run"), help: "The best checkpoint of this run (with --best).") var runId: Int64?
    @Option(help: "Metric that picks the best checkpoint of --run.") var best: CheckpointMetric = .valAcc
    @Option(help: "A weights file (HDF5).") var weights: String?
    @Option(help: "Zoo model id for --weights: its card names the architecture (default: the file's own).")
    var model: String?
    @Option(help: "The file format.") var format: ExportFormat
    @Option(help: "The file to write.") var output: String
    @Flag(help: "Overwrite --output if it exists.") var force = false

    func validate() throws {
        let sources = [checkpoint != nil, runId != nil, weights != nil].filter { $0 }.count
        guard sources == 1 else {
            throw ValidationError("give exactly one of --checkpoint ID, --run R (with --best METRIC) or --weights FILE")
        }
        if model != nil && weights == nil { throw ValidationError("--model goes with --weights FILE") }
    }

    mutating func run() throws {
        let outputURL = URL(fileURLWithPath: output)
        // Refused before anything is read: an existing file stays as it is.
        try ModelExport.checkOutput(outputURL, overwrite: force)
        let exportable: ExportableModel
        let origin: String
        if let weights {
            let zoo = try model.map { _ in try Zoo.shipped() }
            let card = try model.flatMap { try zoo?.card(id: $0) }
            exportable = try ExportableModel.load(weights: URL(fileURLWithPath: weights), card: card, zoo: zoo)
            origin = weights
        } else {
            let db = try catalog.openExisting()
            let id = try resolveCheckpoint(in: db)
            let record = try db.checkpoint(id: id)
            exportable = try ExportableModel.load(weights: try db.verifiedFile(for: record))
            origin = "checkpoint \(id)"
        }
        try ModelExport.write(exportable, format: format, to: outputURL, overwrite: force)
        let card = exportable.card
        let detail = format == .onnx ? " (opset \(ONNXExport.opsetVersion))" : ""
        print(
            "wrote \(output) as \(format.rawValue)\(detail) from \(origin): \(card.architecture.rawValue), "
                + "\(card.numClasses) classes (\(Self.summary(card.classNames))), input \(card.inputSize.map(String.init).joined(separator: "×"))"
        )
    }

    /// Class names for one line: all of a few, the first five of many.
    static func summary(_ names: [String]) -> String {
        names.count <= 8 ? names.joined(separator: ", ") : names.prefix(5).joined(separator: ", ") + ", …"
    }

    /// The checkpoint `--checkpoint` names, or the best of `--run` by `--best` (the selection
    /// `graft ckpt export` makes).
    private func resolveCheckpoint(in db: Catalog) throws -> Int64 {
        if let checkpoint { return checkpoint }
        let run = runId!
        guard let found = try db.bestCheckpoint(by: best, filter: CheckpointFilter(run: run)),
            let id = found.checkpoint.id
        else {
            throw ValidationError("run \(run) has no checkpoint with \(best.rawValue)")
        }
        return id
    }
}
