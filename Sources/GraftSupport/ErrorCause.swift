/// The error underneath a module's own error (a Foundation I/O error, a reader's error), kept
/// whole rather than flattened to a string: its message is shown, and `underlying` gives a caller
/// the original. Two causes are equal when their messages are, so errors carrying one stay
/// `Equatable` for tests.
public struct ErrorCause: Error, Equatable, @unchecked Sendable, CustomStringConvertible {
    public let underlying: any Error

    public init(_ underlying: any Error) { self.underlying = underlying }

    /// The underlying error's message (its `localizedDescription`).
    public var description: String { (underlying as? ErrorCause)?.description ?? underlying.localizedDescription }

    public static func == (a: ErrorCause, b: ErrorCause) -> Bool { a.description == b.description }
}
