import Foundation
import GraftSupport

/// Every failure of GraftWeights: reading `.pth` and safetensors files, reading and writing
/// HDF5 weights. Each case names the file (and the key, dataset or field) at fault, so the CLI can
/// print one clear line.
public enum WeightsError: LocalizedError, Equatable, Sendable {
    /// The file does not exist.
    case fileNotFound(path: String)
    /// The file exists but could not be read or written (permissions, I/O error).
    case io(path: String, reason: String)
    /// The file is truncated or its structure is inconsistent.
    case corrupt(path: String, reason: String)
    /// The file is valid but uses a feature Graft does not read (a legacy torch.save file,
    /// big-endian storages, an unknown dtype).
    case unsupported(path: String, reason: String)
    /// The pickle refers to a Python global other than the few a `state_dict` needs, such as a
    /// whole pickled model (`__main__.MyNet`).
    case disallowedGlobal(path: String, global: String)
    /// The pickle uses an opcode the reader does not implement.
    case unknownOpcode(path: String, opcode: UInt8, offset: Int)
    /// The file decodes, but not to a mapping of names to tensors.
    case notAStateDict(path: String, reason: String)
    /// An HDF5 call failed; `object` is the dataset, group or attribute concerned.
    case hdf5(path: String, object: String?, reason: String)
    /// Some tensors hold NaN or infinity.
    case nonFinite(path: String, keys: [String])

    public var errorDescription: String? {
        switch self {
        case .fileNotFound(let path):
            return "\(path): no such file"
        case .io(let path, let reason):
            return "\(path): \(reason)"
        case .corrupt(let path, let reason):
            return "\(path): corrupt or truncated file: \(reason)"
        case .unsupported(let path, let reason):
            return "\(path): unsupported: \(reason)"
        case .disallowedGlobal(let path, let global):
            return "\(path): the pickle refers to the Python global '\(global)'; only state_dict files "
                + "(torch.save(model.state_dict(), …)) can be read, not whole pickled objects"
        case .unknownOpcode(let path, let opcode, let offset):
            return "\(path): unsupported pickle opcode 0x\(String(opcode, radix: 16)) at byte \(offset) of the pickle"
        case .notAStateDict(let path, let reason):
            return "\(path): not a state_dict: \(reason)"
        case .hdf5(let path, let object, let reason):
            if let object { return "\(path): HDF5 object '\(object)': \(reason)" }
            return "\(path): HDF5: \(reason)"
        case .nonFinite(let path, let keys):
            let shown = keys.prefix(8).joined(separator: ", ")
            let more = keys.count > 8 ? " and \(keys.count - 8) more" : ""
            return "\(path): non-finite values (NaN or infinity) in \(shown)\(more)"
        }
    }
}

extension WeightsError {
    /// Runs `body`, rethrowing GraftSupport's `FileError` as `.fileNotFound` (a file that
    /// cannot be opened because it is not there) or `.io`, naming the same file.
    public static func translatingFileErrors<T>(_ body: () throws -> T) rethrows -> T {
        do {
            return try body()
        } catch let error as FileError {
            if error.operation == "open" && error.code == ENOENT { throw WeightsError.fileNotFound(path: error.path) }
            throw WeightsError.io(path: error.path, reason: "\(error.operation) failed: \(error.reason)")
        }
    }
}

/// Reads a whole file, memory-mapped when possible, turning failures into `WeightsError`.
func readFileData(_ url: URL) throws -> Data {
    guard FileManager.default.fileExists(atPath: url.path) else {
        throw WeightsError.fileNotFound(path: url.path)
    }
    do {
        return try Data(contentsOf: url, options: .alwaysMapped)
    } catch {
        throw WeightsError.io(path: url.path, reason: "cannot read: \(error.localizedDescription)")
    }
}
