import Foundation
import TestSupport

/// A JSON value from a fixture. Fixtures are read with `JSONDecoder`, which parses numbers to
/// the exact double (the fixtures store shortest round-trip reprs).
enum JSONValue: Decodable, Equatable {
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
    case null

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let d = try? c.decode(Double.self) {
            self = .number(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    var double: Double? { if case .number(let d) = self { d } else { nil } }
    var int: Int? { double.map { Int($0) } }

    /// The value as text for `OptimizerConfig.set(_:to:)`.
    var text: String {
        switch self {
        case .bool(let b): b ? "true" : "false"
        case .number(let d): "\(d)"
        case .string(let s): s
        case .array(let a): a.map(\.text).joined(separator: ",")
        case .object: "{}"
        case .null: "none"
        }
    }
}

struct OptimizerFixture: Decodable {
    struct Scheduler: Decodable {
        var type: String
        var config: [String: JSONValue]
    }
    var optimizer: String
    var config: [String: JSONValue]
    var initial: [Double]
    var grads: [[Double]]
    var trajectory: [[Double]]
    var scheduler: Scheduler?
    var lr: [Double]?
    var momentum: [Double]?
}

struct ScheduleFixture: Decodable {
    var scheduler: String
    var config: [String: JSONValue]
    var optimizer_config: [String: JSONValue]
    var steps: Int
    var lr: [Double]
    var momentum: [Double]?
}

func loadFixture<T: Decodable>(_ type: T.Type, _ relative: String) throws -> T {
    try JSONDecoder().decode(T.self, from: Data(contentsOf: Fixtures.url(relative)))
}

/// Fixture files in a fixture folder with the given extension, sorted.
func fixtureFiles(_ folder: String, ext: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: Fixtures.url(folder).path)
        .filter { $0.hasSuffix("." + ext) }.sorted()
}

/// A `step,lr,loss` curve from `lr_finder/`.
struct Curve {
    var steps: [Int] = []
    var lrs: [Double] = []
    var losses: [Double] = []

    init(_ relative: String) throws {
        let text = try String(contentsOf: Fixtures.url(relative), encoding: .utf8)
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(separator: ",")
            guard f.count == 3, let s = Int(f[0]), let lr = Double(f[1]), let loss = Double(f[2]) else { continue }
            steps.append(s)
            lrs.append(lr)
            losses.append(loss)
        }
    }
}
