/// One entry of a PyTorch-style `state_dict`: float32 weights and buffers, or the int64
/// counters BatchNorm keeps (`num_batches_tracked`, a 0-d tensor in PyTorch).
public enum StateValue: Sendable, Equatable {
    case float(Tensor)
    case int64(shape: [Int], values: [Int64])

    public var shape: [Int] {
        switch self {
        case .float(let t): t.shape
        case .int64(let shape, _): shape
        }
    }

    public var dtypeName: String {
        switch self {
        case .float: "float32"
        case .int64: "int64"
        }
    }

    public static func == (a: StateValue, b: StateValue) -> Bool {
        switch (a, b) {
        case (.float(let x), .float(let y)): x.isBitwiseEqual(to: y)
        case (.int64(let s1, let v1), .int64(let s2, let v2)): s1 == s2 && v1 == v2
        default: false
        }
    }
}

/// An ordered `state_dict`: keys keep insertion order, as PyTorch's OrderedDict does.
public struct StateDict: Sendable, Equatable, Sequence {
    public private(set) var keys: [String] = []
    private var values: [String: StateValue] = [:]

    public init() {}

    public init(_ entries: [(String, StateValue)]) {
        for (k, v) in entries { self[k] = v }
    }

    public subscript(key: String) -> StateValue? {
        get { values[key] }
        set {
            if newValue == nil {
                if values.removeValue(forKey: key) != nil { keys.removeAll { $0 == key } }
            } else {
                if values[key] == nil { keys.append(key) }
                values[key] = newValue
            }
        }
    }

    public var count: Int { keys.count }

    public func makeIterator() -> AnyIterator<(key: String, value: StateValue)> {
        var index = 0
        return AnyIterator {
            guard index < keys.count else { return nil }
            defer { index += 1 }
            return (keys[index], values[keys[index]]!)
        }
    }
}
