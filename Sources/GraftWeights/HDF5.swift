import CHDF5
import Foundation
import GraftTensor

/// libhdf5 is not thread-safe in its Debian build: every call goes through this one lock.
final class HDF5Lock: @unchecked Sendable {
    static let shared = HDF5Lock()
    private let lock = NSRecursiveLock()
    private init() {
        lock.lock()
        _ = H5open()
        graft_H5_silence_errors()
        lock.unlock()
    }

    func run<R>(_ body: () throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }
}

/// An owned HDF5 identifier, closed with the matching `H5*close` when released.
final class HDF5Handle {
    enum Kind { case file, group, dataset, dataspace, datatype, attribute, object, plist }
    let id: hid_t
    let kind: Kind

    init(_ id: hid_t, _ kind: Kind) {
        self.id = id
        self.kind = kind
    }

    deinit {
        HDF5Lock.shared.run {
            switch kind {
            case .file: _ = H5Fclose(id)
            case .group: _ = H5Gclose(id)
            case .dataset: _ = H5Dclose(id)
            case .dataspace: _ = H5Sclose(id)
            case .datatype: _ = H5Tclose(id)
            case .attribute: _ = H5Aclose(id)
            case .object: _ = H5Oclose(id)
            case .plist: _ = H5Pclose(id)
            }
        }
    }
}

/// An attribute value Graft writes or reads: UTF-8 strings, int64 or float64, scalar or 1-D.
public enum HDF5AttributeValue: Sendable, Equatable {
    case string(String)
    case strings([String])
    case int(Int64)
    case ints([Int64])
    case double(Double)
    case doubles([Double])
}

/// A named group of arrays and attributes stored beside the weights (e.g. optimizer state in
/// a training checkpoint). Arrays keep their order through the `graft_key_order` attribute.
public struct HDF5Group: Sendable, Equatable {
    public var name: String
    public var arrays: StateDict
    public var attributes: [String: HDF5AttributeValue]

    public init(name: String, arrays: StateDict = StateDict(), attributes: [String: HDF5AttributeValue] = [:]) {
        self.name = name
        self.arrays = arrays
        self.attributes = attributes
    }
}

/// An open HDF5 file. All calls are serialised by `HDF5Lock`; errors name the file and object.
final class HDF5File {
    let path: String
    let file: HDF5Handle

    private init(path: String, file: HDF5Handle) {
        self.path = path
        self.file = file
    }

    static func create(_ url: URL) throws -> HDF5File {
        try HDF5Lock.shared.run {
            let access = graft_checksummed_file_access()
            guard access >= 0 else {
                throw WeightsError.hdf5(path: url.path, object: nil, reason: "cannot set the file format")
            }
            defer { H5Pclose(access) }
            let id = H5Fcreate(url.path, graft_H5F_ACC_TRUNC(), graft_H5P_DEFAULT(), access)
            guard id >= 0 else {
                throw WeightsError.hdf5(path: url.path, object: nil, reason: "cannot create the file")
            }
            return HDF5File(path: url.path, file: HDF5Handle(id, .file))
        }
    }

    static func open(_ url: URL) throws -> HDF5File {
        guard FileManager.default.fileExists(atPath: url.path) else { throw WeightsError.fileNotFound(path: url.path) }
        return try HDF5Lock.shared.run {
            guard H5Fis_hdf5(url.path) > 0 else {
                throw WeightsError.corrupt(
                    path: url.path, reason: "not an HDF5 file (or truncated before its superblock)")
            }
            let id = H5Fopen(url.path, graft_H5F_ACC_RDONLY(), graft_H5P_DEFAULT())
            guard id >= 0 else {
                throw WeightsError.corrupt(path: url.path, reason: "HDF5 cannot open it (truncated or damaged)")
            }
            return HDF5File(path: url.path, file: HDF5Handle(id, .file))
        }
    }

    /// Flushes HDF5's buffers to the operating system.
    func flush() throws {
        try HDF5Lock.shared.run {
            guard H5Fflush(file.id, H5F_SCOPE_GLOBAL) >= 0 else { throw error(nil, "flush failed") }
        }
    }

    private func error(_ object: String?, _ reason: String) -> WeightsError {
        .hdf5(path: path, object: object, reason: reason)
    }

    // MARK: - Groups

    /// Opens (`create: false`) or creates a group by path; `""` or `"/"` is the root.
    func group(_ name: String, create: Bool) throws -> HDF5Handle {
        try HDF5Lock.shared.run {
            let target = name.isEmpty ? "/" : name
            if !create || H5Lexists(file.id, target, graft_H5P_DEFAULT()) > 0 || target == "/" {
                let id = H5Gopen2(file.id, target, graft_H5P_DEFAULT())
                guard id >= 0 else { throw error(name, "no such group") }
                return HDF5Handle(id, .group)
            }
            let id = H5Gcreate2(file.id, target, graft_H5P_DEFAULT(), graft_H5P_DEFAULT(), graft_H5P_DEFAULT())
            guard id >= 0 else { throw error(name, "cannot create the group") }
            return HDF5Handle(id, .group)
        }
    }

    /// Names of the links in a group, split into datasets and groups, in HDF5's name order.
    func members(of group: HDF5Handle, groupName: String) throws -> (datasets: [String], groups: [String]) {
        try HDF5Lock.shared.run {
            var info = H5G_info_t()
            guard H5Gget_info(group.id, &info) >= 0 else { throw error(groupName, "cannot list the group") }
            var datasets: [String] = [], groups: [String] = []
            for i in 0..<info.nlinks {
                let length = H5Lget_name_by_idx(
                    group.id, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, graft_H5P_DEFAULT())
                guard length >= 0 else { throw error(groupName, "cannot read link name \(i)") }
                var buffer = [CChar](repeating: 0, count: Int(length) + 1)
                _ = H5Lget_name_by_idx(
                    group.id, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buffer, Int(length) + 1, graft_H5P_DEFAULT())
                let name = String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                let object = H5Oopen(group.id, name, graft_H5P_DEFAULT())
                guard object >= 0 else { throw error(name, "cannot open the object") }
                let type = H5Iget_type(object)
                _ = H5Oclose(object)
                if type == H5I_DATASET { datasets.append(name) } else if type == H5I_GROUP { groups.append(name) }
            }
            return (datasets, groups)
        }
    }

    // MARK: - Datasets

    /// Writes a float32 (IEEE little-endian) or int64 dataset; a 0-d value gets a scalar dataspace.
    /// `floatStorage` may store float tensors as IEEE float64 or float16 instead (HDF5 converts
    /// on write); Graft itself always writes float32.
    func writeArray(
        _ value: StateValue, name: String, in group: HDF5Handle,
        floatStorage: ElementType = .float32
    ) throws {
        guard !name.isEmpty, !name.contains("/"), name != "." else {
            throw error(name, "dataset names must be non-empty and contain no '/'")
        }
        try HDF5Lock.shared.run {
            let shape = value.shape
            let dims = shape.map { hsize_t($0) }
            let space = HDF5Handle(
                shape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(shape.count), dims, nil), .dataspace)
            guard space.id >= 0 else { throw error(name, "cannot create a dataspace for shape \(shape)") }
            let (fileType, memoryType): (hid_t, hid_t)
            var owned: HDF5Handle?
            defer { _ = owned }
            switch value {
            case .float:
                let stored = try floatFileType(floatStorage, name: name)
                owned = stored
                (fileType, memoryType) = (stored.id, graft_H5T_NATIVE_FLOAT())
            case .int64: (fileType, memoryType) = (graft_H5T_STD_I64LE(), graft_H5T_NATIVE_INT64())
            }
            let dataset = HDF5Handle(
                H5Dcreate2(
                    group.id, name, fileType, space.id,
                    graft_H5P_DEFAULT(), graft_H5P_DEFAULT(), graft_H5P_DEFAULT()), .dataset)
            guard dataset.id >= 0 else { throw error(name, "cannot create the dataset") }
            let status: herr_t
            switch value {
            case .float(let t):
                status = H5Dwrite(
                    dataset.id, memoryType, graft_H5S_ALL(), graft_H5S_ALL(), graft_H5P_DEFAULT(), t.pointer)
            case .int64(_, let values):
                status = values.withUnsafeBufferPointer {
                    H5Dwrite(
                        dataset.id, memoryType, graft_H5S_ALL(), graft_H5S_ALL(), graft_H5P_DEFAULT(), $0.baseAddress)
                }
            }
            guard status >= 0 else { throw error(name, "cannot write the data") }
        }
    }

    /// Reads a dataset into native memory types: any floating-point dataset (float16/32/64)
    /// becomes a float32 tensor, any integer dataset int64 values. The element count is
    /// checked against the dataspace.
    func readArray(name: String, in group: HDF5Handle) throws -> StateValue {
        try HDF5Lock.shared.run {
            let dataset = HDF5Handle(H5Dopen2(group.id, name, graft_H5P_DEFAULT()), .dataset)
            guard dataset.id >= 0 else { throw error(name, "cannot open the dataset") }
            let space = HDF5Handle(H5Dget_space(dataset.id), .dataspace)
            let type = HDF5Handle(H5Dget_type(dataset.id), .datatype)
            guard space.id >= 0, type.id >= 0 else { throw error(name, "cannot read the dataset's type or shape") }
            let (shape, count) = try shapeAndCount(name: name, space: space)
            let points = H5Sget_simple_extent_npoints(space.id)
            guard points == Int64(count) else {
                throw error(name, "dataspace holds \(points) elements, shape \(shape) needs \(count)")
            }
            try checkStoredBytes(name: name, dataset: dataset, type: type, count: count)
            switch H5Tget_class(type.id) {
            case H5T_FLOAT:
                var tensor = Tensor(uninitializedShape: shape)
                let status = H5Dread(
                    dataset.id, graft_H5T_NATIVE_FLOAT(), graft_H5S_ALL(), graft_H5S_ALL(),
                    graft_H5P_DEFAULT(), tensor.mutablePointer())
                guard status >= 0 else { throw error(name, "cannot read the data (truncated file?)") }
                return .float(tensor)
            case H5T_INTEGER:
                var values = [Int64](repeating: 0, count: count)
                let status = values.withUnsafeMutableBufferPointer {
                    H5Dread(
                        dataset.id, graft_H5T_NATIVE_INT64(), graft_H5S_ALL(), graft_H5S_ALL(),
                        graft_H5P_DEFAULT(), $0.baseAddress)
                }
                guard status >= 0 else { throw error(name, "cannot read the data (truncated file?)") }
                return .int64(shape: shape, values: values)
            default:
                throw error(name, "dataset type is neither floating-point nor integer")
            }
        }
    }

    /// The dataspace's shape and element count. Both come from the file: a dimension beyond
    /// `Int.max`, or a product that overflows, is an error naming the dataset.
    fileprivate func shapeAndCount(name: String, space: HDF5Handle) throws -> (shape: [Int], count: Int) {
        let rank = H5Sget_simple_extent_ndims(space.id)
        guard space.id >= 0, rank >= 0 else { throw error(name, "unreadable dataspace") }
        var dims = [hsize_t](repeating: 0, count: Int(rank))
        if rank > 0 { _ = H5Sget_simple_extent_dims(space.id, &dims, nil) }
        var shape: [Int] = []
        var count = 1
        for d in dims {
            guard let n = Int(exactly: d) else { throw error(name, "dataspace dimension \(d) is too large") }
            let (product, overflow) = count.multipliedReportingOverflow(by: max(n, 1))
            guard !overflow else { throw error(name, "dataspace of shape \(dims) has too many elements") }
            shape.append(n)
            count = product
        }
        return (shape, shape.contains(0) ? 0 : count)
    }

    /// The most a chunked dataset's data may expand from the bytes it stores: above deflate's
    /// ceiling (about 1032:1), the best the filters libhdf5 ships with achieve.
    static let maximumExpansion = 2048

    /// Checks the bytes the file stores for a dataset against what its shape needs, before
    /// memory for it is allocated: a damaged dimension must not make a small file ask for
    /// terabytes. Contiguous and compact data must be all there; chunked (possibly compressed)
    /// data may expand at most `maximumExpansion` times.
    private func checkStoredBytes(name: String, dataset: HDF5Handle, type: HDF5Handle, count: Int) throws {
        guard count > 0 else { return }
        let elementSize = H5Tget_size(type.id)
        let (needed, overflow) = count.multipliedReportingOverflow(by: max(elementSize, 1))
        let stored = H5Dget_storage_size(dataset.id)
        let plist = HDF5Handle(H5Dget_create_plist(dataset.id), .plist)
        let layout = plist.id >= 0 ? H5Pget_layout(plist.id) : H5D_LAYOUT_ERROR
        let chunked = layout == H5D_CHUNKED
        let (limit, limitOverflow) = Int(clamping: stored).multipliedReportingOverflow(
            by: chunked ? HDF5File.maximumExpansion : 1)
        guard !overflow, limitOverflow || needed <= limit else {
            let what = stored == 0 ? "stores no data" : "stores \(stored) bytes"
            throw error(name, "dataset \(what), too few for its \(count) elements (truncated or damaged file?)")
        }
    }

    // MARK: - Attributes

    /// Writes (replacing) an attribute on a group or dataset.
    func writeAttribute(_ name: String, _ value: HDF5AttributeValue, on object: HDF5Handle) throws {
        try HDF5Lock.shared.run {
            if H5Aexists(object.id, name) > 0 { _ = H5Adelete(object.id, name) }
            func space(_ count: Int?) -> HDF5Handle {
                guard let count else { return HDF5Handle(H5Screate(H5S_SCALAR), .dataspace) }
                var dims = [hsize_t(count)]
                return HDF5Handle(H5Screate_simple(1, &dims, nil), .dataspace)
            }
            func write(_ fileType: hid_t, _ memoryType: hid_t, _ count: Int?, _ data: UnsafeRawPointer?) throws {
                let s = space(count)
                let attribute = HDF5Handle(
                    H5Acreate2(object.id, name, fileType, s.id, graft_H5P_DEFAULT(), graft_H5P_DEFAULT()), .attribute)
                guard attribute.id >= 0, H5Awrite(attribute.id, memoryType, data) >= 0 else {
                    throw error(name, "cannot write the attribute")
                }
            }
            switch value {
            case .int(let v):
                try withUnsafePointer(to: v) { try write(graft_H5T_STD_I64LE(), graft_H5T_NATIVE_INT64(), nil, $0) }
            case .ints(let v):
                try v.withUnsafeBufferPointer {
                    try write(graft_H5T_STD_I64LE(), graft_H5T_NATIVE_INT64(), v.count, $0.baseAddress)
                }
            case .double(let v):
                try withUnsafePointer(to: v) { try write(graft_H5T_IEEE_F64LE(), graft_H5T_NATIVE_DOUBLE(), nil, $0) }
            case .doubles(let v):
                try v.withUnsafeBufferPointer {
                    try write(graft_H5T_IEEE_F64LE(), graft_H5T_NATIVE_DOUBLE(), v.count, $0.baseAddress)
                }
            case .string(let s):
                try writeStrings([s], scalar: true)
            case .strings(let s):
                try writeStrings(s, scalar: false)
            }
            func writeStrings(_ strings: [String], scalar: Bool) throws {
                let type = try utf8StringType()
                // Variable-length strings are written from an array of C string pointers.
                let cStrings = strings.map { strdup($0) }
                defer { cStrings.forEach { free($0) } }
                try cStrings.withUnsafeBufferPointer {
                    try write(type.id, type.id, scalar ? nil : strings.count, $0.baseAddress)
                }
            }
        }
    }

    /// The little-endian IEEE file type for float32, float64 or float16 (built from float32's
    /// by setting the half-precision fields, as HDF5 1.10 has no predefined half type).
    private func floatFileType(_ type: ElementType, name: String) throws -> HDF5Handle {
        let handle = HDF5Handle(H5Tcopy(type == .float64 ? graft_H5T_IEEE_F64LE() : graft_H5T_IEEE_F32LE()), .datatype)
        guard handle.id >= 0 else { throw error(name, "cannot create a float type") }
        switch type {
        case .float32, .float64:
            return handle
        case .float16:
            guard H5Tset_fields(handle.id, 15, 10, 5, 0, 10) >= 0, H5Tset_size(handle.id, 2) >= 0,
                H5Tset_ebias(handle.id, 15) >= 0
            else { throw error(name, "cannot create a float16 type") }
            return handle
        default:
            throw error(name, "\(type.rawValue) is not a floating-point storage type")
        }
    }

    private func utf8StringType() throws -> HDF5Handle {
        let type = HDF5Handle(H5Tcopy(graft_H5T_C_S1()), .datatype)
        guard type.id >= 0, H5Tset_size(type.id, graft_H5T_VARIABLE()) >= 0,
            H5Tset_cset(type.id, H5T_CSET_UTF8) >= 0
        else {
            throw error(nil, "cannot create a string type")
        }
        return type
    }

    /// Names of an object's attributes.
    func attributeNames(of object: HDF5Handle) throws -> [String] {
        final class Names { var list: [String] = [] }
        let names = Names()
        let status = HDF5Lock.shared.run {
            var index: hsize_t = 0
            return H5Aiterate2(
                object.id, H5_INDEX_NAME, H5_ITER_INC, &index,
                { _, name, _, context in
                    let box = Unmanaged<Names>.fromOpaque(context!).takeUnretainedValue()
                    box.list.append(String(cString: name!))
                    return 0
                }, Unmanaged.passUnretained(names).toOpaque())
        }
        guard status >= 0 else { throw error(nil, "cannot list attributes") }
        return names.list
    }

    /// Reads an attribute: strings (variable or fixed length), integers as int64, floats as
    /// float64; scalars and 1-D arrays.
    func readAttribute(_ name: String, of object: HDF5Handle) throws -> HDF5AttributeValue? {
        try HDF5Lock.shared.run {
            guard H5Aexists(object.id, name) > 0 else { return nil }
            let attribute = HDF5Handle(H5Aopen(object.id, name, graft_H5P_DEFAULT()), .attribute)
            guard attribute.id >= 0 else { throw error(name, "cannot open the attribute") }
            let space = HDF5Handle(H5Aget_space(attribute.id), .dataspace)
            let type = HDF5Handle(H5Aget_type(attribute.id), .datatype)
            let rank = H5Sget_simple_extent_ndims(space.id)
            let count = Int(H5Sget_simple_extent_npoints(space.id))
            guard rank >= 0, rank <= 1, count >= 0 else {
                throw error(name, "attribute of rank \(rank) is not supported")
            }
            let scalar = rank == 0
            // An empty (null dataspace) attribute has no value: treated as absent.
            if scalar && count == 0 { return nil }
            guard !scalar || count == 1 else { throw error(name, "scalar attribute holds \(count) values") }
            // Each element takes at least one stored byte: a damaged count must not size the
            // buffers below.
            let stored = H5Aget_storage_size(attribute.id)
            guard UInt64(count) <= stored else {
                throw error(name, "attribute of \(count) elements stores only \(stored) bytes")
            }
            switch H5Tget_class(type.id) {
            case H5T_INTEGER:
                var values = [Int64](repeating: 0, count: count)
                guard H5Aread(attribute.id, graft_H5T_NATIVE_INT64(), &values) >= 0 else {
                    throw error(name, "cannot read the attribute")
                }
                return scalar ? .int(values[0]) : .ints(values)
            case H5T_FLOAT:
                var values = [Double](repeating: 0, count: count)
                guard H5Aread(attribute.id, graft_H5T_NATIVE_DOUBLE(), &values) >= 0 else {
                    throw error(name, "cannot read the attribute")
                }
                return scalar ? .double(values[0]) : .doubles(values)
            case H5T_STRING:
                var strings: [String] = []
                if H5Tis_variable_str(type.id) > 0 {
                    let memoryType = try utf8StringType()
                    var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
                    guard H5Aread(attribute.id, memoryType.id, &pointers) >= 0 else {
                        throw error(name, "cannot read the attribute")
                    }
                    strings = pointers.map { $0.map { String(cString: $0) } ?? "" }
                    _ = H5Dvlen_reclaim(memoryType.id, space.id, graft_H5P_DEFAULT(), &pointers)
                } else {
                    let size = H5Tget_size(type.id)
                    let (bytes, overflow) = size.multipliedReportingOverflow(by: count)
                    guard size > 0, !overflow, UInt64(bytes) <= stored else {
                        throw error(
                            name,
                            "fixed-length string attribute of \(count) × \(size) bytes stores only \(stored) bytes")
                    }
                    let memoryType = HDF5Handle(H5Tcopy(graft_H5T_C_S1()), .datatype)
                    _ = H5Tset_size(memoryType.id, size)
                    var buffer = [UInt8](repeating: 0, count: bytes)
                    guard H5Aread(attribute.id, memoryType.id, &buffer) >= 0 else {
                        throw error(name, "cannot read the attribute")
                    }
                    for i in 0..<count {
                        let slice = buffer[(i * size)..<((i + 1) * size)].prefix { $0 != 0 }
                        strings.append(String(decoding: slice, as: UTF8.self))
                    }
                }
                return scalar ? .string(strings.first ?? "") : .strings(strings)
            default:
                throw error(name, "attribute type is not a string or number")
            }
        }
    }
}

extension HDF5File {
    /// Shape and stored element type of a dataset, without reading its data.
    func datasetInfo(name: String, in group: HDF5Handle) throws -> (shape: [Int], type: String) {
        try HDF5Lock.shared.run {
            let dataset = HDF5Handle(H5Dopen2(group.id, name, graft_H5P_DEFAULT()), .dataset)
            guard dataset.id >= 0 else {
                throw WeightsError.hdf5(path: path, object: name, reason: "cannot open the dataset")
            }
            let space = HDF5Handle(H5Dget_space(dataset.id), .dataspace)
            let type = HDF5Handle(H5Dget_type(dataset.id), .datatype)
            guard type.id >= 0 else {
                throw WeightsError.hdf5(path: path, object: name, reason: "unreadable dataspace or type")
            }
            let (shape, _) = try shapeAndCount(name: name, space: space)
            let bits = H5Tget_size(type.id) * 8
            let typeName: String
            switch H5Tget_class(type.id) {
            case H5T_FLOAT: typeName = "float\(bits)"
            case H5T_INTEGER: typeName = (H5Tget_sign(type.id) == H5T_SGN_NONE ? "uint" : "int") + "\(bits)"
            default: typeName = "other"
            }
            return (shape, typeName)
        }
    }
}
