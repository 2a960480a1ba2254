import Foundation
import ArgumentParser
import GraftWeights
import GraftZoo

/// `graft convert SRC --model ID [--output FILE]`: a `.pth`/`.safetensors` file into HDF5.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert PyTorch (.pth) or safetensors weights into Graft's HDF5 weights.",
        discussion: """
            Every key and shape is checked against the model before anything is written; the file is \
            written atomically. A source whose checksum differs from the card's official file is \
            converted with a warning.
            """)

    @Argument(help: "The .pth or .safetensors file.") var source: String
    @Option(help: "Model id from the zoo (see `graft models`).") var model: String
    @Option(help: "Output file (default: Weights/<model>.h5).") var output: String?
    @OptionGroup var zooOptions: ZooOptions

    func run() throws {
        let card = try zooOptions.zoo().card(id: model)
        let outputURL: URL
        if let output {
            outputURL = URL(fileURLWithPath: output)
        } else {
            try FileManager.default.createDirectory(at: zooOptions.weightsURL, withIntermediateDirectories: true)
            outputURL = zooOptions.weightsURL.appendingPathComponent(card.weightsFile)
        }
        let result = try Converter.convert(source: URL(fileURLWithPath: source), card: card, output: outputURL)
        for warning in result.warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
        let checksum: String
        switch result.checksum {
        case .verified: checksum = "matches the official \(card.source?.file ?? "file")"
        case .mismatch: checksum = "DIFFERS from the official file (see warning)"
        case .unknown: checksum = "not an official file of this card"
        }
        print(
            """
            wrote \(result.output.path)
              model        \(card.id) (\(result.attributes.architecture), \(result.attributes.numClasses) classes)
              tensors      \(result.tensorCount), \(result.parameterCount) parameters
              source       \(result.attributes.sourceFile)
              sha256       \(result.attributes.sourceSHA256) (\(checksum))
            """)
    }
}
