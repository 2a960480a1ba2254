import CHDF5
import Foundation
import GraftSupport
import GraftTensor

/// What a Graft weights file says about its model and where the weights came from. Stored as
/// attributes of the HDF5 root group (see `Weights/README.md`).
public struct WeightsAttributes: Sendable, Equatable, Codable {
    public var modelID: String
    public var architecture: String
    public var numClasses: Int
    public var classNames: [String]
    /// `[channels, height, width]` of the model's input.
    public var inputSize: [Int]
    public var mean: [Double]
    public var std: [Double]
    /// File name (no directory) of the `.pth`/`.safetensors` the weights were converted from.
    public var sourceFile: String
    public var sourceSHA256: String
    /// ISO-8601 UTC time of the conversion.
    public var convertedAt: String
    public var formatVersion: Int

    /// The layout version this build writes and the newest it reads.
    public static let currentFormatVersion = 1

    public init(
        modelID: String, architecture: String, numClasses: Int, classNames: [String] = [],
        inputSize: [Int], mean: [Double], std: [Double], sourceFile: String = "",
        sourceSHA256: String = "", convertedAt: String = WeightsAttributes.now(),
        formatVersion: Int = WeightsAttributes.currentFormatVersion
    ) {
        self.modelID = modelID
        self.architecture = architecture
        self.numClasses = numClasses
        self.classNames = classNames
        self.inputSize = inputSize
        self.mean = mean
        self.std = std
        self.sourceFile = sourceFile
        self.sourceSHA256 = sourceSHA256
        self.convertedAt = convertedAt
        self.formatVersion = formatVersion
    }

    /// The current time as ISO-8601 UTC, seconds precision.
    public static func now() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date())
    }

    enum Name {
        static let modelID = "model_id", architecture = "architecture", numClasses = "num_classes"
        static let classNames = "class_names", inputSize = "input_size", mean = "mean", std = "std"
        static let sourceFile = "source_file", sourceSHA256 = "source_sha256", convertedAt = "converted_at"
        static let formatVersion = "graft_format_version", keyOrder = "graft_key_order"
    }

    var hdf5Attributes: [(String, HDF5AttributeValue)] {
        var list: [(String, HDF5AttributeValue)] = [
            (Name.modelID, .string(modelID)), (Name.architecture, .string(architecture)),
            (Name.numClasses, .int(Int64(numClasses))),
        ]
        // HDF5 attributes cannot be empty arrays portably: an absent list reads back as empty.
        if !classNames.isEmpty { list.append((Name.classNames, .strings(classNames))) }
        if !inputSize.isEmpty { list.append((Name.inputSize, .ints(inputSize.map(Int64.init)))) }
        if !mean.isEmpty { list.append((Name.mean, .doubles(mean))) }
        if !std.isEmpty { list.append((Name.std, .doubles(std))) }
        list += [
            (Name.sourceFile, .string(sourceFile)), (Name.sourceSHA256, .string(sourceSHA256)),
            (Name.convertedAt, .string(convertedAt)), (Name.formatVersion, .int(Int64(formatVersion))),
        ]
        return list
    }

    init(hdf5 attributes: [String: HDF5AttributeValue], path: String) throws {
        func string(_ name: String) throws -> String {
            switch attributes[name] {
            case nil: return ""
            case .string(let s)?: return s
            case .strings(let s)? where s.count == 1: return s[0]
            default: throw WeightsError.hdf5(path: path, object: name, reason: "attribute should be a string")
            }
        }
        func ints(_ name: String) throws -> [Int64] {
            switch attributes[name] {
            case nil: return []
            case .int(let v)?: return [v]
            case .ints(let v)?: return v
            // Whole numbers stored as floats; NaN, infinities and values beyond Int64 are errors.
            case .double(let v)? where Int64(exactly: v) != nil: return [Int64(exactly: v) ?? 0]
            case .doubles(let v)? where v.allSatisfy({ Int64(exactly: $0) != nil }):
                return v.map { Int64(exactly: $0) ?? 0 }
            default: throw WeightsError.hdf5(path: path, object: name, reason: "attribute should hold integers")
            }
        }
        func doubles(_ name: String) throws -> [Double] {
            switch attributes[name] {
            case nil: return []
            case .double(let v)?: return [v]
            case .doubles(let v)?: return v
            case .int(let v)?: return [Double(v)]
            case .ints(let v)?: return v.map(Double.init)
            default: throw WeightsError.hdf5(path: path, object: name, reason: "attribute should hold numbers")
            }
        }
        let classNames: [String]
        switch attributes[Name.classNames] {
        case nil: classNames = []
        case .strings(let s)?: classNames = s
        case .string(let s)?: classNames = [s]
        default:
            throw WeightsError.hdf5(
                path: path, object: Name.classNames, reason: "attribute should be a list of strings")
        }
        let numClasses = try ints(Name.numClasses)
        let version = try ints(Name.formatVersion)
        self.init(
            modelID: try string(Name.modelID), architecture: try string(Name.architecture),
            numClasses: Int(numClasses.first ?? Int64(classNames.count)), classNames: classNames,
            inputSize: try ints(Name.inputSize).map { Int($0) }, mean: try doubles(Name.mean),
            std: try doubles(Name.std),
            sourceFile: try string(Name.sourceFile), sourceSHA256: try string(Name.sourceSHA256),
            convertedAt: try string(Name.convertedAt), formatVersion: Int(version.first ?? 1))
    }
}

/// One dataset as stored in a weights file.
public struct WeightsEntry: Sendable, Equatable, Codable {
    public let name: String
    public let shape: [Int]
    /// The type stored in the file (`float32`, `float64`, `float16`, `int64`, …), before the
    /// conversion reading applies.
    public let storedType: String
    public var count: Int { shape.reduce(1, *) }
}

/// Graft's HDF5 weights files: one dataset per state_dict key at the root, named by the key,
/// file attributes describing the model and the weights' source, optional extra groups.
public enum WeightsFile {
    /// Writes a weights file. Atomically by default: the file is built under a temporary name
    /// in the same directory, fsynced, then renamed over `url` (GraftSupport's `AtomicFile`); on
    /// failure nothing is left behind.
    /// - Parameters:
    ///   - state: the weights, one dataset per key.
    ///   - attributes: the file attributes: architecture, classes, input size, normalisation, source.
    ///   - url: the file to write.
    ///   - groups: extra groups (e.g. optimizer state) written beside the weights.
    ///   - atomically: false writes `url` directly, for a caller that already writes a temporary
    ///     file of its own atomic replace (the catalog's `saveCheckpoint`), so a checkpoint is
    ///     written, synced and renamed once; that caller removes a partial file on failure.
    /// - Throws: `WeightsError` naming the file and the dataset or attribute that failed.
    public static func write(
        _ state: StateDict, attributes: WeightsAttributes, groups: [HDF5Group] = [],
        to url: URL, atomically: Bool = true
    ) throws {
        guard atomically else {
            return try writeContents(state, attributes: attributes, groups: groups, to: url, reportedAs: url)
        }
        let directory = url.deletingLastPathComponent()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue
        else {
            throw WeightsError.io(path: url.path, reason: "directory \(directory.path) does not exist")
        }
        try WeightsError.translatingFileErrors {
            try AtomicFile.write(to: url) { temp in
                try writeContents(state, attributes: attributes, groups: groups, to: temp, reportedAs: url)
            }
        }
    }

    /// Creates the HDF5 file at `target`; errors name `url`, the path the caller asked for.
    private static func writeContents(
        _ state: StateDict, attributes: WeightsAttributes, groups: [HDF5Group],
        to target: URL, reportedAs url: URL
    ) throws {
        let file = try HDF5File.create(target)
        let root = try file.group("/", create: false)
        for (key, value) in state { try file.writeArray(value, name: key, in: root) }
        for (name, value) in attributes.hdf5Attributes { try file.writeAttribute(name, value, on: root) }
        if state.count > 0 { try file.writeAttribute(WeightsAttributes.Name.keyOrder, .strings(state.keys), on: root) }
        for group in groups {
            guard !group.name.isEmpty, !state.keys.contains(group.name) else {
                throw WeightsError.hdf5(
                    path: url.path, object: group.name, reason: "group name is empty or taken by a dataset")
            }
            let handle = try file.group(group.name, create: true)
            for (key, value) in group.arrays { try file.writeArray(value, name: key, in: handle) }
            for (name, value) in group.attributes.sorted(by: { $0.key < $1.key }) {
                try file.writeAttribute(name, value, on: handle)
            }
            if group.arrays.count > 0 {
                try file.writeAttribute(WeightsAttributes.Name.keyOrder, .strings(group.arrays.keys), on: handle)
            }
        }
        try file.flush()
    }

    /// Reads the weights at the root and the file attributes. Floating datasets of any
    /// precision are converted to float32, integer datasets to int64. Keys come in the stored
    /// `graft_key_order` (name order for files written without it, e.g. by h5py).
    /// - Throws: `WeightsError` for a missing, truncated or damaged file, naming the dataset.
    public static func read(_ url: URL) throws -> (state: StateDict, attributes: WeightsAttributes) {
        let file = try HDF5File.open(url)
        let root = try file.group("/", create: false)
        let attributes = try readAttributes(file, root)
        let version = attributes[WeightsAttributes.Name.formatVersion]
        let parsed = try WeightsAttributes(hdf5: attributes, path: url.path)
        if version != nil, parsed.formatVersion > WeightsAttributes.currentFormatVersion {
            throw WeightsError.unsupported(
                path: url.path,
                reason:
                    "graft_format_version \(parsed.formatVersion) is newer than this build reads (\(WeightsAttributes.currentFormatVersion))"
            )
        }
        let state = try readArrays(file, root, groupName: "/", order: attributes[WeightsAttributes.Name.keyOrder])
        return (state, parsed)
    }

    /// Reads one extra group written by `write(_:attributes:groups:to:)`.
    public static func readGroup(_ name: String, from url: URL) throws -> HDF5Group {
        let file = try HDF5File.open(url)
        let (_, groups) = try file.members(of: try file.group("/", create: false), groupName: "/")
        guard groups.contains(name) else {
            throw WeightsError.hdf5(
                path: url.path, object: name, reason: "no such group (groups: \(groups.joined(separator: ", ")))")
        }
        let handle = try file.group(name, create: false)
        var attributes = try readAttributes(file, handle)
        let order = attributes.removeValue(forKey: WeightsAttributes.Name.keyOrder)
        let arrays = try readArrays(file, handle, groupName: name, order: order)
        return HDF5Group(name: name, arrays: arrays, attributes: attributes)
    }

    /// Names of the extra groups in a weights file.
    public static func groupNames(in url: URL) throws -> [String] {
        let file = try HDF5File.open(url)
        return try file.members(of: try file.group("/", create: false), groupName: "/").groups
    }

    /// The root datasets as stored (name, shape, stored type), in key order, without reading data.
    public static func entries(in url: URL) throws -> [WeightsEntry] {
        let file = try HDF5File.open(url)
        let root = try file.group("/", create: false)
        let order = try file.readAttribute(WeightsAttributes.Name.keyOrder, of: root)
        let names = try orderedNames(file, root, groupName: "/", order: order)
        return try names.map { name in
            let (shape, type) = try file.datasetInfo(name: name, in: root)
            return WeightsEntry(name: name, shape: shape, storedType: type)
        }
    }

    static func readAttributes(_ file: HDF5File, _ object: HDF5Handle) throws -> [String: HDF5AttributeValue] {
        var result: [String: HDF5AttributeValue] = [:]
        for name in try file.attributeNames(of: object) {
            if let value = try file.readAttribute(name, of: object) { result[name] = value }
        }
        return result
    }

    static func orderedNames(
        _ file: HDF5File, _ group: HDF5Handle, groupName: String,
        order: HDF5AttributeValue?
    ) throws -> [String] {
        let datasets = try file.members(of: group, groupName: groupName).datasets
        guard let order else { return datasets }
        guard case .strings(let keys) = order else {
            throw WeightsError.hdf5(
                path: file.path, object: WeightsAttributes.Name.keyOrder,
                reason: "attribute should be a list of strings")
        }
        let present = Set(datasets)
        if let absent = keys.first(where: { !present.contains($0) }) {
            throw WeightsError.corrupt(
                path: file.path, reason: "dataset '\(absent)' listed in \(WeightsAttributes.Name.keyOrder) is missing")
        }
        let listed = Set(keys)
        return keys + datasets.filter { !listed.contains($0) }
    }

    static func readArrays(
        _ file: HDF5File, _ group: HDF5Handle, groupName: String,
        order: HDF5AttributeValue?
    ) throws -> StateDict {
        var state = StateDict()
        for name in try orderedNames(file, group, groupName: groupName, order: order) {
            state[name] = try file.readArray(name: name, in: group)
        }
        return state
    }
}

/// Keys of float tensors holding NaN or infinity.
public func nonFiniteKeys(in state: StateDict) -> [String] {
    var keys: [String] = []
    for (key, value) in state {
        guard case .float(let t) = value else { continue }
        let p = t.pointer
        var finite = true
        for i in 0..<t.count where !p[i].isFinite { finite = false; break }
        if !finite { keys.append(key) }
    }
    return keys
}
