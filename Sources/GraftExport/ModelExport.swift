import Foundation
import GraftSupport
import GraftWeights

/// Writes an `ExportableModel` in one of the `ExportFormat`s, crash-safely: the file is written
/// under a temporary name beside `url` and renamed over it only when complete (`AtomicFile`), so
/// a failure leaves no partial file.
public enum ModelExport {
    /// - Throws: `ExportError.outputExists` when `url` exists and `overwrite` is false.
    public static func checkOutput(_ url: URL, overwrite: Bool) throws {
        if !overwrite, FileManager.default.fileExists(atPath: url.path) {
            throw ExportError.outputExists(path: url.path)
        }
    }

    /// Writes `model` in `format` to `url`, under a temporary name renamed when complete.
    /// - Parameters:
    ///   - model: the weights, loaded into their architecture, with the card's facts.
    ///   - format: safetensors or ONNX.
    ///   - url: the file to write.
    ///   - overwrite: replace an existing file at `url`; without it an existing file is an error.
    /// - Throws: `ExportError.outputExists` (before anything is written), `ExportError` for a
    ///   layer ONNX cannot express, `WeightsError.io` or `ExportError.write` naming the file.
    public static func write(
        _ model: ExportableModel, format: ExportFormat, to url: URL, overwrite: Bool = false
    ) throws {
        try checkOutput(url, overwrite: overwrite)
        switch format {
        case .safetensors:
            // "format": "pt" is what safetensors.torch writes; loaders use it to pick a framework.
            var metadata = model.card.metadata
            metadata["format"] = "pt"
            try Safetensors.write(model.state, metadata: metadata, to: url)
        case .onnx:
            let data = try ONNXExport.serializedModel(model)
            do {
                try AtomicFile.write(data, to: url)
            } catch let error as FileError {
                throw ExportError.write(path: url.path, cause: ErrorCause(error))
            }
        }
    }
}
