import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A terminal progress bar for a training loop.
///
/// On a terminal it redraws one line in place (`\r`, at most ten times a second):
/// `epoch 3 ▕█████▌    ▏ 52% 520/1000 loss 0.4312 acc 87.1% lr 3.0e-3  1m 02s < 57s`.
/// When the output is not a terminal (CI, a log file) it prints a plain line at most every
/// `plainInterval` seconds and once at the end, so logs stay readable.
///
/// All methods take a lock, so a data-loading thread and the training loop may both report.
public final class ProgressBar: @unchecked Sendable {
    public let total: Int
    public let label: String
    public let isTTY: Bool

    private let sink: @Sendable (String) -> Void
    private let clock: @Sendable () -> Double
    private let barWidth: Int
    private let plainInterval: Double
    private let columns: Int
    private let lock = NSLock()

    private let start: Double
    private var lastDraw = -Double.infinity
    private var lastPlain: Double
    private var step = 0
    private var metrics: [(String, String)] = []
    private var drawnOnce = false
    private var plainPrintedStep = -1
    private var finished = false

    /// A bar writing to a file handle (standard error by default).
    /// - Parameters:
    ///   - isTTY: draw in place (true) or print plain lines (false); nil asks `output`.
    ///   - barWidth: the bar's width in characters (at least 4).
    ///   - total: the number of steps; `0` or less shows counts without a bar or ETA.
    ///   - label: printed before the bar, e.g. `epoch 3/10`.
    ///   - output: where to write; whether it is a terminal decides the mode unless `isTTY` is given.
    ///   - plainInterval: seconds between lines when not on a terminal.
    ///   - clock: seconds from any fixed origin; tests pass a manual clock.
    public convenience init(
        total: Int, label: String = "", output: FileHandle = .standardError, isTTY: Bool? = nil,
        barWidth: Int = 24, plainInterval: Double = 30, clock: (@Sendable () -> Double)? = nil
    ) {
        let fd = output.fileDescriptor
        let tty = isTTY ?? (isatty(fd) != 0)
        self.init(
            total: total, label: label, isTTY: tty, columns: tty ? Self.terminalColumns(fd) : 0,
            barWidth: barWidth, plainInterval: plainInterval, clock: clock,
            sink: { text in try? output.write(contentsOf: Data(text.utf8)) })
    }

    /// A bar writing through `sink` (tests, or a caller that collects output itself).
    public init(
        total: Int, label: String = "", isTTY: Bool, columns: Int = 0, barWidth: Int = 24,
        plainInterval: Double = 30, clock: (@Sendable () -> Double)? = nil,
        sink: @escaping @Sendable (String) -> Void
    ) {
        self.total = total
        self.label = label
        self.isTTY = isTTY
        self.columns = columns
        self.barWidth = max(4, barWidth)
        self.plainInterval = max(0, plainInterval)
        self.clock = clock ?? { ProcessInfo.processInfo.systemUptime }
        self.sink = sink
        self.start = self.clock()
        self.lastPlain = self.start
    }

    /// Reports that `step` of `total` steps are done, with pre-formatted metrics such as
    /// `[("loss", Format.compact(loss)), ("acc", Format.percent(acc)), ("lr", Format.lr(lr))]`.
    /// Draws only when enough time has passed since the last draw, or at the last step.
    public func update(step: Int, metrics: [(String, String)] = []) {
        lock.lock()
        defer { lock.unlock() }
        guard !finished else { return }
        self.step = step
        self.metrics = metrics
        let now = clock()
        let last = total > 0 && step >= total
        if isTTY {
            if last || now - lastDraw >= 0.1 {
                lastDraw = now
                drawnOnce = true
                sink("\r" + fit(line(now: now, tty: true)) + "\u{1B}[K")
            }
        } else if (last && plainPrintedStep != step) || now - lastPlain >= plainInterval {
            lastPlain = now
            plainPrintedStep = step
            sink(line(now: now, tty: false) + "\n")
        }
    }

    /// Prints a full line (an epoch summary, a warning) without garbling the bar: on a terminal
    /// the bar is cleared, the line printed, and the bar redrawn below it.
    public func log(_ text: String) {
        lock.lock()
        defer { lock.unlock() }
        if isTTY {
            var s = "\r\u{1B}[K" + text + "\n"
            if drawnOnce, !finished { s += fit(line(now: clock(), tty: true)) }
            sink(s)
        } else {
            sink(text + "\n")
        }
    }

    /// Draws the final state, ends the line and prints `summary` on its own line. Later calls
    /// to `update` are ignored.
    public func finish(summary: String? = nil) {
        lock.lock()
        defer { lock.unlock() }
        guard !finished else { return }
        finished = true
        let now = clock()
        var s = ""
        if isTTY {
            s = "\r" + fit(line(now: now, tty: true)) + "\u{1B}[K\n"
        } else if plainPrintedStep != step {
            s = line(now: now, tty: false) + "\n"
        }
        if let summary { s += summary + "\n" }
        sink(s)
    }

    /// Seconds since the bar was created.
    public var elapsed: Double {
        clock() - start
    }

    // MARK: - Rendering

    private func line(now: Double, tty: Bool) -> String {
        ProgressBar.render(
            label: label, step: step, total: total, metrics: metrics, elapsed: now - start,
            tty: tty, barWidth: barWidth, done: finished)
    }

    private func fit(_ text: String) -> String {
        guard columns > 1, text.count >= columns else { return text }
        return String(text.prefix(columns - 1))
    }

    /// The text of one progress line; `done` means the work ended (the ETA shows as finished).
    static func render(
        label: String, step: Int, total: Int, metrics: [(String, String)], elapsed: Double,
        tty: Bool, barWidth: Int, done: Bool
    ) -> String {
        var parts: [String] = []
        if !label.isEmpty { parts.append(label) }
        let fraction = total > 0 ? min(max(Double(step) / Double(total), 0), 1) : 0
        let percent = "\(Int((fraction * 100).rounded(.down)))%"
        let counts = total > 0 ? "\(step)/\(total)" : "\(step)"
        if tty {
            if total > 0 {
                parts.append("▕" + bar(fraction, width: barWidth) + "▏")
                parts.append(String(repeating: " ", count: max(0, 4 - percent.count)) + percent)
            }
            parts.append(counts)
        } else {
            parts.append(total > 0 ? "\(counts) (\(percent))" : counts)
        }
        for (name, value) in metrics { parts.append("\(name) \(value)") }
        let remaining: Double
        if total > 0, step > 0, elapsed > 0 {
            remaining = done || step >= total ? 0 : elapsed / Double(step) * Double(total - step)
        } else {
            remaining = .nan
        }
        if tty {
            parts.append(" " + Format.duration(elapsed) + (total > 0 ? " < " + Format.duration(remaining) : ""))
        } else {
            parts.append("elapsed " + Format.duration(elapsed))
            if total > 0 { parts.append("eta " + Format.duration(remaining)) }
        }
        return parts.joined(separator: " ")
    }

    /// `width` cells of full blocks with an eighth-block for the fractional part.
    static func bar(_ fraction: Double, width: Int) -> String {
        let eighths = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"]
        let cells = min(max(fraction, 0), 1) * Double(width)
        let full = Int(cells.rounded(.down))
        let part = min(7, Int(((cells - Double(full)) * 8).rounded(.down)))
        var s = String(repeating: "█", count: full)
        if full < width {
            s += eighths[part]
            s += String(repeating: " ", count: width - full - (part > 0 ? 1 : 0))
        }
        return s
    }

    /// The terminal's width in columns: `$COLUMNS`, else the window size of `fd`, else 100.
    static func terminalColumns(_ fd: Int32) -> Int {
        if let env = ProcessInfo.processInfo.environment["COLUMNS"], let c = Int(env), c > 10 { return c }
        #if canImport(Glibc) || canImport(Darwin)
        var size = winsize()
        let result = withUnsafeMutablePointer(to: &size) { ioctl(fd, UInt(TIOCGWINSZ), $0) }
        if result == 0, size.ws_col > 10 { return Int(size.ws_col) }
        #endif
        return 100
    }
}
