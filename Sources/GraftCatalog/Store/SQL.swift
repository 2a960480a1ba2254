import Foundation

// The catalog speaks to its database through this small layer, so the same queries run on the
// embedded SQLite file (GRDB) and on a PostgreSQL server (libpq). Queries are written in the
// SQL both understand, with `?` placeholders; each store adapts what little differs.

/// A value as the catalog stores it. Booleans are integers 0/1 and dates text
/// (`yyyy-MM-dd HH:mm:ss.SSS`, UTC), as GRDB has always stored them in SQLite.
public enum SQLValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
}

/// A Swift value that can be bound to a `?` placeholder.
public protocol SQLBindable {
    var sqlValue: SQLValue { get }
}

extension Int: SQLBindable { public var sqlValue: SQLValue { .integer(Int64(self)) } }
extension Int64: SQLBindable { public var sqlValue: SQLValue { .integer(self) } }
extension Int32: SQLBindable { public var sqlValue: SQLValue { .integer(Int64(self)) } }
extension Double: SQLBindable { public var sqlValue: SQLValue { .real(self) } }
extension String: SQLBindable { public var sqlValue: SQLValue { .text(self) } }
extension Bool: SQLBindable { public var sqlValue: SQLValue { .integer(self ? 1 : 0) } }
extension Date: SQLBindable { public var sqlValue: SQLValue { .text(SQLDate.format(self)) } }
extension SQLValue: SQLBindable { public var sqlValue: SQLValue { self } }
extension Optional: SQLBindable where Wrapped: SQLBindable {
    public var sqlValue: SQLValue { self?.sqlValue ?? .null }
}
extension RunStatus: SQLBindable { public var sqlValue: SQLValue { .text(rawValue) } }
extension FileIntentRecord.Action: SQLBindable { public var sqlValue: SQLValue { .text(rawValue) } }

/// The catalog's one text form for dates, and a parser that also reads PostgreSQL's
/// (which drops trailing zeros of the fraction).
enum SQLDate {
    static func format(_ date: Date) -> String {
        // Milliseconds, rounded down as GRDB does, in UTC.
        let millis = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var time = time_t(millis / 1000)
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(
            format: "%04d-%02d-%02d %02d:%02d:%02d.%03d", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
            Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec),
            Int(millis - Int64(time) * 1000))
    }

    /// Reads `yyyy-MM-dd HH:mm[:ss[.fff…]]` (a `T` may separate date and time), as UTC.
    static func parse(_ text: String) -> Date? {
        let scalars = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= scalars.count else { return nil }
            var n = 0
            for c in scalars[range] {
                guard c >= 48, c <= 57 else { return nil }
                n = n * 10 + Int(c - 48)
            }
            return n
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16)
        else { return nil }
        let second = number(17..<19) ?? 0
        var fraction = 0.0
        if scalars.count > 20, scalars[19] == UInt8(ascii: ".") {
            var scale = 0.1
            for c in scalars[20...] {
                guard c >= 48, c <= 57 else { break }
                fraction += Double(c - 48) * scale
                scale /= 10
            }
        }
        var parts = tm()
        parts.tm_year = Int32(year - 1900); parts.tm_mon = Int32(month - 1); parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour); parts.tm_min = Int32(minute); parts.tm_sec = Int32(second)
        let t = timegm(&parts)
        return Date(timeIntervalSince1970: Double(t) + fraction)
    }
}

extension SQLValue {
    public var int64: Int64? {
        switch self {
        case .integer(let v): v
        case .real(let v): Int64(exactly: v)
        case .text(let s): Int64(s)
        case .null: nil
        }
    }
    public var double: Double? {
        switch self {
        case .integer(let v): Double(v)
        case .real(let v): v
        case .text(let s): Double(s)
        case .null: nil
        }
    }
    public var string: String? {
        switch self {
        case .text(let s): s
        case .integer(let v): String(v)
        case .real(let v): String(v)
        case .null: nil
        }
    }
    public var date: Date? {
        switch self {
        case .text(let s): SQLDate.parse(s)
        case .real(let v): Date(timeIntervalSince1970: v)
        case .integer(let v): Date(timeIntervalSince1970: Double(v))
        case .null: nil
        }
    }
}

/// One result row: values by column name.
public struct SQLRow: Sendable {
    public let columns: [String]
    public let values: [SQLValue]

    public init(columns: [String], values: [SQLValue]) {
        self.columns = columns
        self.values = values
    }

    /// The value of a column; NULL when the row has no such column.
    public subscript(_ name: String) -> SQLValue {
        guard let i = columns.firstIndex(of: name) else { return .null }
        return values[i]
    }

    public func int64(_ name: String) -> Int64? { self[name].int64 }
    public func double(_ name: String) -> Double? { self[name].double }
    public func string(_ name: String) -> String? { self[name].string }
    public func bool(_ name: String) -> Bool? { self[name].int64.map { $0 != 0 } }
    public func date(_ name: String) -> Date? { self[name].date }
}

/// Statements within one read or write of a store.
public protocol SQLSession {
    /// Runs a statement that returns no rows.
    func execute(_ sql: String, _ arguments: [any SQLBindable]) throws
    /// Runs a query.
    func rows(_ sql: String, _ arguments: [any SQLBindable]) throws -> [SQLRow]
}

extension SQLSession {
    func execute(_ sql: String) throws { try execute(sql, []) }

    /// The first column of every row, as Int64 (counts, ids).
    func integers(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> [Int64] {
        try rows(sql, arguments).compactMap { $0.values.first?.int64 }
    }

    /// The first column of every row, as text.
    func strings(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> [String] {
        try rows(sql, arguments).compactMap { $0.values.first?.string }
    }
}

/// Which database a store holds; the few statements that differ look at it.
public enum SQLDialect: String, Sendable {
    case sqlite, postgresql
}

/// A catalog database: reads see one consistent state; writes are transactions.
public protocol CatalogStore: Sendable {
    var dialect: SQLDialect { get }
    func read<T>(_ body: (any SQLSession) throws -> T) throws -> T
    /// A write transaction. Writers of different rows proceed side by side where the database
    /// allows it (PostgreSQL), so their commits share the log's flushes.
    func write<T>(_ body: (any SQLSession) throws -> T) throws -> T
    /// A write transaction that runs alone among writers, for find-or-create steps that must not
    /// race (SQLite's writes always do; PostgreSQL takes an advisory lock).
    func writeAlone<T>(_ body: (any SQLSession) throws -> T) throws -> T
    /// Migration identifiers recorded in the database, oldest first.
    func appliedMigrations() throws -> [String]
    /// Applies the migrations this build knows and the database lacks.
    func migrate() throws
    /// Releases the connection (tests that reopen a file).
    func close() throws
}
