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
            What to export: a catalog checkpoint (--checkpoint ID), a run's best (--run R --best val_acc), \
            a weights file (--weights FILE.h5, with --model ID to take the architecture and class names from a zoo \
            card) such as an SWA model written by graft ensemble --output, or a zoo model's own weights (--model ID \
            alone: a published model, or converted torchvision weights).
            """)

    @OptionGroup var catalog: CatalogOptions
    @OptionGroup var source: ModelSourceOptions
    @Option(help: "The file format.") var format: ExportFormat
    @Option(help: "The file to write.") var output: String
    @Flag(help: "Overwrite --output if it exists.") var force = false

    func validate() throws { try source.requireOne() }

    mutating func run() throws {
        let outputURL = URL(fileURLWithPath: output)
        // Refused before anything is read: an existing file stays as it is.
        try ModelExport.checkOutput(outputURL, overwrite: force)
        let exportable: ExportableModel
        let origin: String
        switch try source.resolve(catalog: catalog) {
        case .weights(let url, let card, let zoo):
            exportable = try ExportableModel.load(weights: url, card: card, zoo: zoo)
            origin = url.path
        case .checkpoint(let id, let db):
            exportable = try ExportableModel.load(weights: try db.verifiedFile(for: try db.checkpoint(id: id)))
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
}
