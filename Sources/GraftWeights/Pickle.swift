import Foundation
import GraftTensor

/// A mutable, ordered Python dict built by the unpickler (a reference, as in Python, so memoised
/// dicts see later SETITEMs).
final class PickleDict {
    private(set) var entries: [(key: PickleValue, value: PickleValue)] = []
    private var stringIndex: [String: Int] = [:]

    func set(_ key: PickleValue, _ value: PickleValue) {
        if case .string(let s) = key {
            if let i = stringIndex[s] { entries[i].value = value; return }
            stringIndex[s] = entries.count
        }
        entries.append((key, value))
    }

    func value(forKey key: String) -> PickleValue? { stringIndex[key].map { entries[$0].value } }

    func removeAll() {
        entries.removeAll()
        stringIndex.removeAll()
    }
}

/// A mutable Python list built by the unpickler.
final class PickleList {
    var items: [PickleValue] = []
}

/// Element types of PyTorch storages, named by their pickled storage class.
enum StorageDType: String {
    case float32 = "FloatStorage", float64 = "DoubleStorage", float16 = "HalfStorage"
    case bfloat16 = "BFloat16Storage"
    case int64 = "LongStorage", int32 = "IntStorage", int16 = "ShortStorage", int8 = "CharStorage"
    case uint8 = "ByteStorage", bool = "BoolStorage"
}

/// A storage named by a persistent id: `('storage', torch.FloatStorage, '0', 'cpu', numel)`.
struct StorageRef {
    let dtype: StorageDType
    let key: String
    let count: Int
}

/// Values the unpickler handles: the subset of Python objects a `state_dict` pickle contains.
indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int64)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    /// A tuple and how deeply tuples nest in it (1 for a tuple of scalars).
    case tuple([PickleValue], depth: Int)
    case list(PickleList)
    case dict(PickleDict)
    /// An allowed callable or class (`collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`, a storage class).
    case global(module: String, name: String)
    case storage(StorageRef)
    case tensor(StateValue)

    var typeName: String {
        switch self {
        case .none: "None"
        case .bool: "bool"
        case .int: "int"
        case .float: "float"
        case .string: "str"
        case .bytes: "bytes"
        case .tuple: "tuple"
        case .list: "list"
        case .dict: "dict"
        case .global(let m, let n): "\(m).\(n)"
        case .storage: "storage"
        case .tensor: "tensor"
        }
    }
}

/// A pickle virtual machine for `torch.save(state_dict)` files (protocols 2 to 5). It builds
/// dicts, lists, tuples, numbers and strings, rebuilds tensors from storages through
/// `loadTensor`, and refuses every global outside a short allow-list, so no Python object other
/// than a state_dict can be reconstructed.
struct Unpickler {
    let path: String
    let bytes: UnsafeRawBufferPointer
    /// Rebuilds a contiguous tensor: (storage, storage offset, sizes, strides).
    let loadTensor: (StorageRef, Int, [Int], [Int]) throws -> StateValue

    private var pos = 0
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    /// Every dict and list built, so `releaseContainers` can break reference cycles a pickle
    /// may build (a list appended to itself).
    private var dicts: [PickleDict] = []
    private var lists: [PickleList] = []

    init(
        bytes: UnsafeRawBufferPointer, path: String,
        loadTensor: @escaping (StorageRef, Int, [Int], [Int]) throws -> StateValue
    ) {
        self.bytes = bytes
        self.path = path
        self.loadTensor = loadTensor
    }

    static let allowedGlobals: Set<String> = [
        "collections.OrderedDict", "builtins.dict",
        "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
    ]

    mutating func run() throws -> PickleValue {
        while true {
            let opOffset = pos
            let op = try byte()
            switch op {
            case 0x80: _ = try byte()  // PROTO
            case 0x95: _ = try take(8)  // FRAME
            case 0x2E:  // STOP
                guard let top = stack.last else { throw corrupt("STOP with an empty stack") }
                return top
            case 0x28: marks.append(stack.count)  // MARK
            case 0x4E: stack.append(.none)  // NONE
            case 0x88: stack.append(.bool(true))  // NEWTRUE
            case 0x89: stack.append(.bool(false))  // NEWFALSE
            case 0x4B: stack.append(.int(Int64(try byte())))  // BININT1
            case 0x4D: stack.append(.int(Int64(try uint(2))))  // BININT2
            case 0x4A: stack.append(.int(Int64(Int32(truncatingIfNeeded: try uint(4)))))  // BININT
            case 0x8A: stack.append(try long(Int(try byte())))  // LONG1
            case 0x8B: stack.append(try long(Int(try uint(4))))  // LONG4
            case 0x47:  // BINFLOAT (big-endian)
                let raw = try take(8)
                var bits: UInt64 = 0
                for b in raw { bits = bits << 8 | UInt64(b) }
                stack.append(.float(Double(bitPattern: bits)))
            case 0x58: stack.append(.string(try text(Int(try uint(4)))))  // BINUNICODE
            case 0x8C: stack.append(.string(try text(Int(try byte()))))  // SHORT_BINUNICODE
            case 0x8D: stack.append(.string(try text(try length(8))))  // BINUNICODE8
            case 0x55: stack.append(.string(try text(Int(try byte()))))  // SHORT_BINSTRING
            case 0x54: stack.append(.string(try text(Int(try uint(4)))))  // BINSTRING
            case 0x43: stack.append(.bytes(Array(try take(Int(try byte())))))  // SHORT_BINBYTES
            case 0x42: stack.append(.bytes(Array(try take(Int(try uint(4))))))  // BINBYTES
            case 0x29: stack.append(.tuple([], depth: 1))  // EMPTY_TUPLE
            case 0x85: stack.append(try tuple(try pop(1)))  // TUPLE1
            case 0x86: stack.append(try tuple(try pop(2)))  // TUPLE2
            case 0x87: stack.append(try tuple(try pop(3)))  // TUPLE3
            case 0x74: stack.append(try tuple(try popToMark()))  // TUPLE
            case 0x7D: stack.append(.dict(newDict()))  // EMPTY_DICT
            case 0x5D: stack.append(.list(newList()))  // EMPTY_LIST
            case 0x64:  // DICT
                let items = try popToMark()
                let d = newDict()
                try setItems(d, items)
                stack.append(.dict(d))
            case 0x6C:  // LIST
                let l = newList()
                l.items = try popToMark()
                stack.append(.list(l))
            case 0x73:  // SETITEM
                let kv = try pop(2)
                guard case .dict(let d) = try top() else { throw corrupt("SETITEM on a \(try top().typeName)") }
                d.set(kv[0], kv[1])
            case 0x75:  // SETITEMS
                let items = try popToMark()
                guard case .dict(let d) = try top() else { throw corrupt("SETITEMS on a \(try top().typeName)") }
                try setItems(d, items)
            case 0x61:  // APPEND
                let v = try pop(1)
                guard case .list(let l) = try top() else { throw corrupt("APPEND on a \(try top().typeName)") }
                l.items += v
            case 0x65:  // APPENDS
                let items = try popToMark()
                guard case .list(let l) = try top() else { throw corrupt("APPENDS on a \(try top().typeName)") }
                l.items += items
            case 0x71: memo[Int(try byte())] = try top()  // BINPUT
            case 0x72: memo[Int(try uint(4))] = try top()  // LONG_BINPUT
            case 0x94: memo[memo.count] = try top()  // MEMOIZE
            case 0x68: stack.append(try recall(Int(try byte())))  // BINGET
            case 0x6A: stack.append(try recall(Int(try uint(4))))  // LONG_BINGET
            case 0x30: _ = try pop(1)  // POP
            case 0x31: _ = try popToMark()  // POP_MARK
            case 0x32: stack.append(try top())  // DUP
            case 0x63:  // GLOBAL
                let module = try line()
                let name = try line()
                stack.append(try global(module, name))
            case 0x93:  // STACK_GLOBAL
                let mn = try pop(2)
                guard case .string(let module) = mn[0], case .string(let name) = mn[1] else {
                    throw corrupt("STACK_GLOBAL needs two strings")
                }
                stack.append(try global(module, name))
            case 0x51:  // BINPERSID
                stack.append(try persistent(try pop(1)[0]))
            case 0x52:  // REDUCE
                let fa = try pop(2)
                stack.append(try reduce(fa[0], fa[1]))
            case 0x81:  // NEWOBJ
                let ca = try pop(2)
                stack.append(try reduce(ca[0], ca[1]))
            case 0x62:  // BUILD
                // OrderedDict state (the state_dict's `_metadata`) and parameter state are
                // irrelevant to the values; the object stays as built.
                _ = try pop(1)
                _ = try top()
            default:
                throw WeightsError.unknownOpcode(path: path, opcode: op, offset: opOffset)
            }
        }
    }

    // MARK: - Object construction

    /// Tuples are values, released recursively: their nesting is limited (a state_dict nests
    /// three deep), so a pickle of a million nested tuples is an error, not a stack overflow.
    /// Lists and dicts nest without limit; `releaseContainers` takes them apart without recursion.
    static let maximumTupleDepth = 100

    private func tuple(_ items: [PickleValue]) throws -> PickleValue {
        var depth = 1
        for case .tuple(_, let d) in items { depth = max(depth, d + 1) }
        guard depth <= Unpickler.maximumTupleDepth else {
            throw corrupt("tuples nested more than \(Unpickler.maximumTupleDepth) deep")
        }
        return .tuple(items, depth: depth)
    }

    private mutating func newDict() -> PickleDict {
        let d = PickleDict()
        dicts.append(d)
        return d
    }

    private mutating func newList() -> PickleList {
        let l = PickleList()
        lists.append(l)
        return l
    }

    /// Empties every dict and list the pickle built, so none outlives the load through a
    /// reference cycle. Call it once the result has been converted.
    mutating func releaseContainers() {
        for d in dicts { d.removeAll() }
        for l in lists { l.items.removeAll() }
        dicts.removeAll()
        lists.removeAll()
        stack.removeAll()
        memo.removeAll()
    }

    private func global(_ module: String, _ name: String) throws -> PickleValue {
        if module == "torch", StorageDType(rawValue: name) != nil {
            return .global(module: module, name: name)
        }
        let full = "\(module).\(name)"
        guard Unpickler.allowedGlobals.contains(full) || (module == "__builtin__" && name == "dict") else {
            throw WeightsError.disallowedGlobal(path: path, global: full)
        }
        return .global(module: module, name: name)
    }

    private func persistent(_ pid: PickleValue) throws -> PickleValue {
        guard case .tuple(let t, _) = pid, t.count >= 5, case .string("storage") = t[0],
            case .global("torch", let typeName) = t[1], case .string(let key) = t[2],
            case .int(let count) = t[4]
        else {
            throw corrupt("persistent id is not a ('storage', type, key, location, size) tuple")
        }
        guard let dtype = StorageDType(rawValue: typeName) else {
            throw WeightsError.unsupported(path: path, reason: "storage type torch.\(typeName)")
        }
        guard count >= 0 else { throw corrupt("storage '\(key)' has negative size \(count)") }
        return .storage(StorageRef(dtype: dtype, key: key, count: Int(count)))
    }

    private mutating func reduce(_ callable: PickleValue, _ args: PickleValue) throws -> PickleValue {
        guard case .global(let module, let name) = callable, case .tuple(let a, _) = args else {
            throw corrupt("REDUCE of a \(callable.typeName) with \(args.typeName) arguments")
        }
        switch "\(module).\(name)" {
        case "collections.OrderedDict", "builtins.dict", "__builtin__.dict":
            let d = newDict()
            if case .list(let pairs)? = a.first {
                for case .tuple(let kv, _) in pairs.items where kv.count == 2 { d.set(kv[0], kv[1]) }
            }
            return .dict(d)
        case "torch._utils._rebuild_tensor_v2":
            guard a.count >= 4, case .storage(let storage) = a[0], case .int(let offset) = a[1],
                case .tuple(let sizeValues, _) = a[2], case .tuple(let strideValues, _) = a[3]
            else {
                throw corrupt("_rebuild_tensor_v2 arguments are not (storage, offset, size, stride, …)")
            }
            let sizes = try ints(sizeValues, "size")
            let strides = try ints(strideValues, "stride")
            guard sizes.count == strides.count else {
                throw corrupt(
                    "tensor in storage '\(storage.key)' has \(sizes.count) sizes but \(strides.count) strides")
            }
            return .tensor(try loadTensor(storage, Int(offset), sizes, strides))
        case "torch._utils._rebuild_parameter":
            guard let data = a.first, case .tensor = data else {
                throw corrupt("_rebuild_parameter without a tensor")
            }
            return data
        default:
            throw corrupt("\(module).\(name) cannot be called")
        }
    }

    private func ints(_ values: [PickleValue], _ what: String) throws -> [Int] {
        try values.map { v in
            guard case .int(let i) = v, i >= 0 else {
                throw corrupt("tensor \(what) holds \(v.typeName), not a non-negative int")
            }
            return Int(i)
        }
    }

    private func setItems(_ d: PickleDict, _ items: [PickleValue]) throws {
        guard items.count % 2 == 0 else { throw corrupt("odd number of items for a dict") }
        var i = 0
        while i < items.count { d.set(items[i], items[i + 1]); i += 2 }
    }

    // MARK: - Stack and input

    private func corrupt(_ reason: String) -> WeightsError {
        .corrupt(path: path, reason: "pickle: \(reason) (near byte \(pos))")
    }

    private func top() throws -> PickleValue {
        guard let v = stack.last else { throw corrupt("stack underflow") }
        return v
    }

    private mutating func pop(_ n: Int) throws -> [PickleValue] {
        let floor = marks.last ?? 0
        guard stack.count - n >= floor else { throw corrupt("stack underflow") }
        let items = Array(stack[(stack.count - n)...])
        stack.removeLast(n)
        return items
    }

    private mutating func popToMark() throws -> [PickleValue] {
        guard let m = marks.popLast() else { throw corrupt("no MARK on the stack") }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }

    private func recall(_ i: Int) throws -> PickleValue {
        guard let v = memo[i] else { throw corrupt("memo slot \(i) read before it was written") }
        return v
    }

    private mutating func byte() throws -> UInt8 {
        guard pos < bytes.count else { throw corrupt("unexpected end of the pickle (missing STOP)") }
        defer { pos += 1 }
        return bytes[pos]
    }

    private mutating func uint(_ n: Int) throws -> UInt64 {
        let b = try take(n)
        var v: UInt64 = 0
        for (i, x) in b.enumerated() { v |= UInt64(x) << (8 * UInt64(i)) }
        return v
    }

    private mutating func take(_ n: Int) throws -> UnsafeRawBufferPointer {
        guard n >= 0, n <= bytes.count - pos else {
            throw corrupt("unexpected end of the pickle (needed \(n) more bytes)")
        }
        defer { pos += n }
        return UnsafeRawBufferPointer(rebasing: bytes[pos..<(pos + n)])
    }

    /// A length field of `n` bytes, checked against the bytes left (a damaged BINUNICODE8 length
    /// can exceed `Int.max`).
    private mutating func length(_ n: Int) throws -> Int {
        let v = try uint(n)
        guard v <= UInt64(bytes.count - pos) else {
            throw corrupt("unexpected end of the pickle (a length field says \(v) more bytes)")
        }
        return Int(v)
    }

    private mutating func text(_ n: Int) throws -> String {
        String(decoding: try take(n), as: UTF8.self)
    }

    private mutating func line() throws -> String {
        var end = pos
        while end < bytes.count, bytes[end] != 0x0A { end += 1 }
        guard end < bytes.count else { throw corrupt("GLOBAL name without a newline") }
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[pos..<end]), as: UTF8.self)
        pos = end + 1
        return s
    }

    /// Little-endian two's-complement integer of `n` bytes (LONG1/LONG4).
    private mutating func long(_ n: Int) throws -> PickleValue {
        let b = try take(n)
        guard n <= 8 else { throw WeightsError.unsupported(path: path, reason: "pickled integer of \(n) bytes") }
        if n == 0 { return .int(0) }
        var v: UInt64 = 0
        for (i, x) in b.enumerated() { v |= UInt64(x) << (8 * UInt64(i)) }
        if n < 8, b[n - 1] & 0x80 != 0 { v |= ~UInt64(0) << (8 * UInt64(n)) }
        return .int(Int64(bitPattern: v))
    }
}
