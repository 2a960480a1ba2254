/// The file formats `ModelExport` writes.
public enum ExportFormat: String, CaseIterable, Sendable, Codable {
    /// The `state_dict` under PyTorch's key names, with the card in the header's `__metadata__`.
    case safetensors
    /// An ONNX graph (opset 13, dynamic batch axis) with the card in `metadata_props`.
    case onnx

    /// The usual file extension, without the dot.
    public var fileExtension: String { rawValue }
}
