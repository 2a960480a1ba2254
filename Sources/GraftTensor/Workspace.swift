/// A growable scratch buffer owned by one layer and reused across steps, so hot loops never
/// allocate per batch. Not thread-safe: one owner at a time.
public final class Workspace: @unchecked Sendable {
    public private(set) var capacity = 0
    private var storage: UnsafeMutablePointer<Float>?

    public init() {}

    /// A buffer of at least `count` floats; contents are undefined.
    public func buffer(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity || storage == nil {
            if let old = storage { UnsafeMutableRawPointer(old).deallocate() }
            let bytes = max(count, 1) * 4
            let raw = UnsafeMutableRawPointer.allocate(
                byteCount: bytes, alignment: bytes >= HugePages.threshold ? HugePages.size : 64)
            HugePages.advise(raw, bytes: bytes)
            storage = raw.bindMemory(to: Float.self, capacity: max(count, 1))
            capacity = max(count, 1)
        }
        return storage!
    }

    /// Gives the memory back (for example between training and evaluation).
    public func release() {
        if let old = storage { UnsafeMutableRawPointer(old).deallocate() }
        storage = nil
        capacity = 0
    }

    deinit { release() }
}
