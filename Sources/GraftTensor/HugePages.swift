#if canImport(Glibc)
import Glibc
#endif

/// Large activation buffers on transparent huge pages: a fresh 100 MB tensor then costs ~50
/// page faults instead of ~25 000, which is most of the kernel time a training step spends.
enum HugePages {
    static let size = 2 << 20
    /// Buffers from this size on are 2 MB-aligned and advised.
    static let threshold = 4 << 20

    static func advise(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        #if os(Linux)
        guard bytes >= threshold else { return }
        let length = bytes & ~(size - 1)
        if length > 0 { _ = madvise(pointer, length, MADV_HUGEPAGE) }
        #endif
    }
}
