import Foundation

// Records are plain Codable structs. Their camelCase properties map to snake_case columns;
// scalars are stored as themselves and anything structured (class names, member ids, matrices)
// as JSON text, as GRDB stored them before this layer existed.

/// A value stored in one column as itself (not as JSON).
protocol SQLColumnValue: SQLBindable {
    init?(column: SQLValue)
}

extension SQLColumnValue where Self: FixedWidthInteger {
    init?(column: SQLValue) {
        guard let v = column.int64, let i = Self(exactly: v) else { return nil }
        self = i
    }
}
extension SQLColumnValue where Self: RawRepresentable, RawValue == String {
    init?(column: SQLValue) {
        guard case .text(let s) = column else { return nil }
        self.init(rawValue: s)
    }
}
extension Int: SQLColumnValue {}
extension Int64: SQLColumnValue {}
extension Int32: SQLColumnValue {}
extension RunStatus: SQLColumnValue {}
extension EvaluationDataKind: SQLColumnValue {}
extension FileIntentRecord.Action: SQLColumnValue {}
extension Double: SQLColumnValue {
    init?(column: SQLValue) {
        guard let v = column.double else { return nil }
        self = v
    }
}
extension String: SQLColumnValue {
    init?(column: SQLValue) {
        guard case .text(let s) = column else { return nil }
        self = s
    }
}
extension Bool: SQLColumnValue {
    init?(column: SQLValue) {
        guard let v = column.int64 else { return nil }
        self = v != 0
    }
}
extension Date: SQLColumnValue {
    init?(column: SQLValue) {
        guard let d = column.date else { return nil }
        self = d
    }
}

enum ColumnName {
    /// `lrTestId` → `lr_test_id`, as JSONEncoder's and GRDB's snake_case conversion do.
    static func snakeCase(_ key: String) -> String {
        var out = ""
        for (i, c) in key.enumerated() {
            if c.isUppercase {
                if i > 0 { out.append("_") }
                out.append(contentsOf: c.lowercased())
            } else {
                out.append(c)
            }
        }
        return out
    }
}

// MARK: - Encoding a record into columns

/// Encodes a record's stored properties as (column, value) pairs, nil as NULL.
final class RecordEncoder: Encoder {
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] = [:]
    fileprivate(set) var columns: [(String, SQLValue)] = []

    static func columns<R: Encodable>(of record: R) throws -> [(String, SQLValue)] {
        let encoder = RecordEncoder()
        try record.encode(to: encoder)
        return encoder.columns
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(Container<Key>(encoder: self))
    }
    func unkeyedContainer() -> any UnkeyedEncodingContainer { fatalError("a record is a keyed container") }
    func singleValueContainer() -> any SingleValueEncodingContainer { fatalError("a record is a keyed container") }

    fileprivate func set(_ key: some CodingKey, _ value: SQLValue) {
        columns.append((ColumnName.snakeCase(key.stringValue), value))
    }

    private struct Container<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let encoder: RecordEncoder
        var codingPath: [any CodingKey] { [] }

        mutating func encodeNil(forKey key: Key) throws { encoder.set(key, .null) }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            if let scalar = value as? any SQLColumnValue {
                encoder.set(key, scalar.sqlValue)
            } else {
                let json = try JSONEncoder().encode(value)
                encoder.set(key, .text(String(decoding: json, as: UTF8.self)))
            }
        }
        // Synthesized Codable skips nil optionals; a record update must write them as NULL.
        mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws {
            if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
        }
        mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { try encodeOptional(value, key) }
        mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { try encodeOptional(value, key) }
        mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws { try encodeOptional(value, key) }
        mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { try encodeOptional(value, key) }
        mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws { try encodeOptional(value, key) }
        mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws { try encodeOptional(value, key) }
        private mutating func encodeOptional<T: Encodable>(_ value: T?, _ key: Key) throws {
            if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
        }

        mutating func nestedContainer<NestedKey: CodingKey>(
            keyedBy keyType: NestedKey.Type, forKey key: Key
        ) -> KeyedEncodingContainer<NestedKey> { fatalError("records are flat") }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            fatalError("records are flat")
        }
        mutating func superEncoder() -> any Encoder { encoder }
        mutating func superEncoder(forKey key: Key) -> any Encoder { encoder }
    }
}

// MARK: - Decoding a record from a row

/// Decodes a record from a row by column name; a column that is absent (an older catalog) or
/// NULL decodes as nil.
struct RecordDecoder: Decoder {
    let row: SQLRow
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] = [:]

    static func decode<R: Decodable>(_ type: R.Type, from row: SQLRow) throws -> R {
        try R(from: RecordDecoder(row: row))
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(Container<Key>(row: row))
    }
    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        throw DecodingError.typeMismatch(
            [Any].self, .init(codingPath: [], debugDescription: "a record is a keyed container"))
    }
    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        throw DecodingError.typeMismatch(
            Any.self, .init(codingPath: [], debugDescription: "a record is a keyed container"))
    }

    private struct Container<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let row: SQLRow
        var codingPath: [any CodingKey] { [] }
        var allKeys: [Key] { [] }

        func contains(_ key: Key) -> Bool { row.columns.contains(ColumnName.snakeCase(key.stringValue)) }
        func decodeNil(forKey key: Key) throws -> Bool { value(key) == .null }
        private func value(_ key: Key) -> SQLValue { row[ColumnName.snakeCase(key.stringValue)] }

        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            let column = value(key)
            if let scalar = T.self as? any SQLColumnValue.Type {
                guard let v = scalar.init(column: column) as? T else {
                    throw DecodingError.typeMismatch(
                        T.self,
                        .init(
                            codingPath: [key],
                            debugDescription: "column \(ColumnName.snakeCase(key.stringValue)) holds \(column)"))
                }
                return v
            }
            guard case .text(let json) = column else {
                throw DecodingError.valueNotFound(
                    T.self, .init(codingPath: [key], debugDescription: "expected JSON text, got \(column)"))
            }
            return try JSONDecoder().decode(T.self, from: Data(json.utf8))
        }

        func nestedContainer<NestedKey: CodingKey>(
            keyedBy type: NestedKey.Type, forKey key: Key
        ) throws -> KeyedDecodingContainer<NestedKey> {
            throw DecodingError.typeMismatch(Any.self, .init(codingPath: [key], debugDescription: "records are flat"))
        }
        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            throw DecodingError.typeMismatch(Any.self, .init(codingPath: [key], debugDescription: "records are flat"))
        }
        func superDecoder() throws -> any Decoder { RecordDecoder(row: row) }
        func superDecoder(forKey key: Key) throws -> any Decoder { RecordDecoder(row: row) }
    }
}

// MARK: - Record access

/// A catalog table's row type.
public protocol CatalogRecord: Codable, Sendable {
    static var databaseTableName: String { get }
}

/// A record whose table has an auto-incremented `id`.
public protocol IdentifiedCatalogRecord: CatalogRecord {
    var id: Int64? { get set }
}

extension SQLSession {
    /// Inserts a record with an auto-incremented id and sets its `id`.
    func insert<R: IdentifiedCatalogRecord>(_ record: inout R) throws {
        let columns = try RecordEncoder.columns(of: record).filter { $0.0 != "id" || $0.1 != .null }
        let sql =
            "INSERT INTO \(R.databaseTableName) (\(columns.map(\.0).joined(separator: ", "))) "
            + "VALUES (\(Array(repeating: "?", count: columns.count).joined(separator: ", "))) RETURNING id"
        guard let id = try rows(sql, columns.map(\.1)).first?.int64("id") else {
            throw CatalogError.database(reason: "INSERT INTO \(R.databaseTableName) returned no id")
        }
        record.id = id
    }

    /// Inserts a record of a table without an auto-incremented id.
    func insertRow<R: CatalogRecord>(_ record: R) throws {
        let columns = try RecordEncoder.columns(of: record)
        try execute(
            "INSERT INTO \(R.databaseTableName) (\(columns.map(\.0).joined(separator: ", "))) "
                + "VALUES (\(Array(repeating: "?", count: columns.count).joined(separator: ", ")))",
            columns.map(\.1))
    }

    /// Writes every column of a record back to its row.
    func update<R: IdentifiedCatalogRecord>(_ record: R) throws {
        guard let id = record.id else {
            throw CatalogError.database(reason: "cannot update a \(R.databaseTableName) row without an id")
        }
        let columns = try RecordEncoder.columns(of: record).filter { $0.0 != "id" }
        try execute(
            "UPDATE \(R.databaseTableName) SET \(columns.map { "\($0.0) = ?" }.joined(separator: ", ")) WHERE id = ?",
            columns.map(\.1) + [id])
    }

    func fetchAll<R: CatalogRecord>(
        _ type: R.Type, where condition: String? = nil, _ arguments: [any SQLBindable] = [],
        orderBy order: String? = nil, limit: Int? = nil
    ) throws -> [R] {
        var sql = "SELECT * FROM \(R.databaseTableName)"
        if let condition { sql += " WHERE \(condition)" }
        if let order { sql += " ORDER BY \(order)" }
        if let limit { sql += " LIMIT \(max(0, limit))" }
        return try rows(sql, arguments).map { try RecordDecoder.decode(R.self, from: $0) }
    }

    func fetchOne<R: CatalogRecord>(
        _ type: R.Type, where condition: String, _ arguments: [any SQLBindable] = []
    ) throws -> R? {
        try fetchAll(type, where: condition, arguments, orderBy: nil, limit: 1).first
    }

    func fetchOne<R: IdentifiedCatalogRecord>(_ type: R.Type, id: Int64) throws -> R? {
        try fetchOne(type, where: "id = ?", [id])
    }

    func count<R: CatalogRecord>(
        _ type: R.Type, where condition: String? = nil, _ arguments: [any SQLBindable] = []
    ) throws -> Int {
        var sql = "SELECT COUNT(*) AS n FROM \(R.databaseTableName)"
        if let condition { sql += " WHERE \(condition)" }
        return Int(try rows(sql, arguments).first?.int64("n") ?? 0)
    }

    /// Deletes the row with this id; returns whether there was one.
    @discardableResult
    func delete<R: IdentifiedCatalogRecord>(_ type: R.Type, id: Int64) throws -> Bool {
        !(try rows("DELETE FROM \(R.databaseTableName) WHERE id = ? RETURNING id", [id])).isEmpty
    }
}
