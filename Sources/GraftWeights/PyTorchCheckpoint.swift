import Foundation
import GraftTensor

/// Reads PyTorch checkpoints written by `torch.save(model.state_dict(), path)` in the zip
/// format (PyTorch ≥ 1.6, and torchvision's downloadable weights), without Python.
///
/// The archive holds `<name>/data.pkl`, a pickle whose tensors refer by key to raw
/// little-endian storages `<name>/data/<key>`. Views (storage offset, strides) are copied out
/// into contiguous tensors. Floating storages become float32 tensors (float64, float16 and
/// bfloat16 are converted); integer storages become `StateValue.int64`.
public enum PyTorchCheckpoint {
    /// Loads a state_dict; keys keep the pickle's order (the module's `state_dict()` order).
    ///
    /// A checkpoint dict that wraps the weights under `"state_dict"` or `"model_state_dict"`
    /// is unwrapped.
    /// - Throws: `WeightsError` naming the file and the problem: a missing or truncated file,
    ///   a compressed or zip64 archive, a pickle that refers to any other Python global (such as a
    ///   whole pickled model), an unknown opcode, or tensors that lie outside their storage.
    public static func load(_ url: URL) throws -> StateDict {
        let data = try readFileData(url)
        let path = url.path
        return try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> StateDict in
            guard raw.count >= 4 else {
                throw WeightsError.corrupt(
                    path: path, reason: "file of \(raw.count) bytes is too short to be a checkpoint")
            }
            if !(raw[0] == 0x50 && raw[1] == 0x4B && raw[2] == 0x03 && raw[3] == 0x04) {
                if raw[0] == 0x80 {
                    throw WeightsError.unsupported(
                        path: path, reason: "legacy (pre-zip) torch.save format; re-save it with a current PyTorch")
                }
                throw WeightsError.corrupt(
                    path: path, reason: "not a zip archive (a .pth file written by torch.save starts with 'PK')")
            }
            let zip = try ZipArchive(bytes: raw, path: path)
            guard
                let pickleEntry = zip.entries.first(where: { $0.name == "data.pkl" || $0.name.hasSuffix("/data.pkl") })
            else {
                throw WeightsError.notAStateDict(
                    path: path, reason: "the archive has no data.pkl (not written by torch.save)")
            }
            let prefix = String(pickleEntry.name.dropLast("data.pkl".count))
            if let order = zip.entry(named: prefix + "byteorder") {
                let text = String(decoding: try zip.data(of: order), as: UTF8.self)
                guard text.hasPrefix("little") else {
                    throw WeightsError.unsupported(path: path, reason: "storages in '\(text)' byte order")
                }
            }
            var unpickler = Unpickler(bytes: try zip.data(of: pickleEntry), path: path) {
                storage, offset, sizes, strides in
                try rebuildTensor(
                    zip: zip, prefix: prefix, storage: storage, offset: offset, sizes: sizes, strides: strides)
            }
            defer { unpickler.releaseContainers() }
            return try stateDict(from: try unpickler.run(), path: path)
        }
    }

    static func rebuildTensor(
        zip: ZipArchive, prefix: String, storage: StorageRef, offset: Int,
        sizes: [Int], strides: [Int]
    ) throws -> StateValue {
        let path = zip.path
        let name = prefix + "data/" + storage.key
        guard let entry = zip.entry(named: name) else {
            throw WeightsError.corrupt(path: path, reason: "storage '\(name)' is missing from the archive")
        }
        let bytes = try zip.data(of: entry)
        let type = ElementType(storage.dtype)
        // Sizes, strides and counts come from the file: every product and sum is checked, so a
        // damaged one is an error rather than an arithmetic overflow.
        let (storageBytes, storageOverflow) = storage.count.multipliedReportingOverflow(by: type.byteSize)
        guard !storageOverflow, bytes.count >= storageBytes else {
            throw WeightsError.corrupt(
                path: path,
                reason:
                    "storage '\(name)' has \(bytes.count) bytes, \(storage.count) \(type.rawValue) elements need \(storageOverflow ? "more" : "\(storageBytes)")"
            )
        }
        guard let count = checkedProduct(sizes) else {
            throw WeightsError.corrupt(
                path: path, reason: "tensor of size \(sizes) in storage '\(name)' has too many elements")
        }
        if count > 0 {
            var last = offset
            var overflow = false
            for (s, st) in Swift.zip(sizes, strides) where !overflow {
                let (step, o1) = (s - 1).multipliedReportingOverflow(by: st)
                let (sum, o2) = last.addingReportingOverflow(step)
                overflow = o1 || o2
                last = sum
            }
            guard offset >= 0, !overflow, last < storage.count else {
                throw WeightsError.corrupt(
                    path: path,
                    reason:
                        "tensor of size \(sizes) with stride \(strides) at offset \(offset) reaches past storage '\(name)' of \(storage.count) elements"
                )
            }
            // A view that repeats elements (a zero stride, as `expand` makes) would be copied out
            // to more memory than the file holds: a damaged size could ask for terabytes.
            guard count <= storage.count else {
                throw WeightsError.unsupported(
                    path: path,
                    reason:
                        "tensor of size \(sizes) with stride \(strides) repeats elements of storage '\(name)' (\(storage.count) elements); save it after .contiguous()"
                )
            }
        }
        guard let base = bytes.baseAddress, count > 0 else {
            return makeStateValue(shape: sizes, from: UnsafeRawPointer(bitPattern: 64)!, type: type)
        }
        var contiguousStride = 1
        var isContiguous = true
        for d in stride(from: sizes.count - 1, through: 0, by: -1) where sizes[d] != 1 {
            if strides[d] != contiguousStride { isContiguous = false; break }
            contiguousStride *= sizes[d]
        }
        if isContiguous {
            return makeStateValue(shape: sizes, from: base + offset * type.byteSize, type: type)
        }
        let gathered = gatherStrided(base, elementSize: type.byteSize, offset: offset, sizes: sizes, strides: strides)
        defer { gathered.deallocate() }
        return makeStateValue(shape: sizes, from: UnsafeRawPointer(gathered.baseAddress!), type: type)
    }

    /// Turns the unpickled top-level object into a `StateDict`.
    static func stateDict(from value: PickleValue, path: String) throws -> StateDict {
        guard case .dict(var dict) = value else {
            throw WeightsError.notAStateDict(
                path: path, reason: "the pickle holds a \(value.typeName), not a dict of tensors")
        }
        // Training checkpoints often wrap the weights.
        let holdsTensors = dict.entries.contains { if case .tensor = $0.value { true } else { false } }
        if !holdsTensors {
            for wrapper in ["state_dict", "model_state_dict", "model"] {
                if case .dict(let inner)? = dict.value(forKey: wrapper) { dict = inner; break }
            }
        }
        var result = StateDict()
        for (key, v) in dict.entries {
            guard case .string(let name) = key else {
                throw WeightsError.notAStateDict(path: path, reason: "a key is a \(key.typeName), not a string")
            }
            guard case .tensor(let t) = v else {
                throw WeightsError.notAStateDict(
                    path: path, reason: "entry '\(name)' holds \(v.typeName), not a tensor")
            }
            result[name] = t
        }
        guard result.count > 0 else {
            throw WeightsError.notAStateDict(path: path, reason: "it holds no tensors")
        }
        return result
    }
}
