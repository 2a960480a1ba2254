import Foundation
import Testing

@testable import GraftReport

@Suite("Format")
struct FormatTests {
    @Test func durations() {
        #expect(Format.duration(0) == "0s")
        #expect(Format.duration(0.42) == "0.42s")
        #expect(Format.duration(4.24) == "4.2s")
        #expect(Format.duration(42) == "42s")
        #expect(Format.duration(83) == "1m 23s")
        #expect(Format.duration(59.6) == "1m 00s")
        #expect(Format.duration(3600 + 5 * 60 + 10) == "1h 05m")
        #expect(Format.duration(86_400 + 3600) == "1d 01h")
        #expect(Format.duration(.nan) == "--")
        #expect(Format.duration(-1) == "--")
        #expect(Format.duration(.infinity) == "--")
    }

    @Test func scientificAndLearningRates() {
        #expect(Format.lr(3e-3) == "3.0e-3")
        #expect(Format.lr(0.000_999_99) == "1.0e-3")
        #expect(Format.lr(5e-4) == "5.0e-4")
        #expect(Format.lr(-5e-4) == "-5.0e-4")
        #expect(Format.lr(1) == "1.0e0")
        #expect(Format.scientific(123.4, digits: 3) == "1.23e2")
        #expect(Format.scientific(0) == "0")
        #expect(Format.scientific(.nan) == "nan")
        #expect(Format.scientific(-.infinity) == "-inf")
    }

    @Test func percentCompactInteger() {
        #expect(Format.percent(0.8723) == "87.2%")
        #expect(Format.percent(1) == "100.0%")
        #expect(Format.percent(0.5, digits: 0) == "50%")
        #expect(Format.compact(0.43219) == "0.4322")
        #expect(Format.compact(12.3456) == "12.35")
        #expect(Format.compact(2.5e-5) == "2.5e-5")
        #expect(Format.compact(-0.00001) == "-1.0e-5")
        #expect(Format.fixed(-0.0001, digits: 2) == "0.00")
        #expect(Format.integer(1_234_567) == "1,234,567")
        #expect(Format.integer(-1000) == "-1,000")
        #expect(Format.integer(999) == "999")
        #expect(Format.integer(0) == "0")
    }

    @Test func xmlEscaping() {
        #expect(Escape.xml("a<b & \"c\" 'd'>") == "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;")
        #expect(Escape.xml("tab\tok\u{01}bell") == "tab\tokbell")
        #expect(Escape.xml("β–ü") == "β–ü")
    }
}

/// A clock the test moves by hand.
final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 1000.0

    var now: Double {
        lock.lock()
        defer { lock.unlock() }
        return value
    }

    func advance(_ seconds: Double) {
        lock.lock()
        value += seconds
        lock.unlock()
    }
}

/// Collects what a progress bar writes.
final class Collector: @unchecked Sendable {
    private let lock = NSLock()
    private var chunks: [String] = []

    func append(_ s: String) {
        lock.lock()
        chunks.append(s)
        lock.unlock()
    }

    var text: String {
        lock.lock()
        defer { lock.unlock() }
        return chunks.joined()
    }

    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return chunks.count
    }
}

@Suite("ProgressBar")
struct ProgressBarTests {
    @Test func etaIsElapsedPerStepTimesStepsLeft() {
        let line = ProgressBar.render(
            label: "epoch 1", step: 250, total: 1000, metrics: [("loss", "0.5")], elapsed: 30, tty: false,
            barWidth: 24, done: false)
        // 30 s for 250 steps: 750 more take 90 s.
        #expect(line == "epoch 1 250/1000 (25%) loss 0.5 elapsed 30s eta 1m 30s")
        let start = ProgressBar.render(
            label: "", step: 0, total: 10, metrics: [], elapsed: 0, tty: false, barWidth: 24, done: false)
        #expect(start == "0/10 (0%) elapsed 0s eta --")
    }

    @Test func barUsesEighthBlocks() {
        #expect(ProgressBar.bar(0.5, width: 8) == "████    ")
        #expect(ProgressBar.bar(1, width: 4) == "████")
        #expect(ProgressBar.bar(0, width: 3) == "   ")
        // 0.5625 of 8 cells = 4.5 cells: four full blocks and a half block.
        #expect(ProgressBar.bar(0.5625, width: 8) == "████▌   ")
        #expect(ProgressBar.bar(0.5625, width: 8).count == 8)
    }

    @Test func plainOutputIsThrottledAndEndsWithTheFinalState() {
        let clock = ManualClock()
        let out = Collector()
        let bar = ProgressBar(
            total: 25, label: "epoch 1/3", isTTY: false, plainInterval: 10, clock: { clock.now },
            sink: { out.append($0) })
        for step in 1...25 {
            clock.advance(1)
            bar.update(step: step, metrics: [("loss", Format.compact(1 / Double(step))), ("lr", Format.lr(3e-3))])
        }
        bar.finish(summary: "epoch 1/3 done: val acc 81.0%")
        let lines = out.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(
            lines == [
                "epoch 1/3 10/25 (40%) loss 0.1000 lr 3.0e-3 elapsed 10s eta 15s",
                "epoch 1/3 20/25 (80%) loss 0.05000 lr 3.0e-3 elapsed 20s eta 5.0s",
                "epoch 1/3 25/25 (100%) loss 0.04000 lr 3.0e-3 elapsed 25s eta 0s",
                "epoch 1/3 done: val acc 81.0%",
                "",
            ])
        #expect(!out.text.contains("\r"))
        // Updates after finish are ignored.
        bar.update(step: 26)
        #expect(out.text.hasSuffix("81.0%\n"))
    }

    @Test func plainFinishPrintsTheLastStateWhenNotYetPrinted() {
        let clock = ManualClock()
        let out = Collector()
        let bar = ProgressBar(
            total: 100, isTTY: false, plainInterval: 60, clock: { clock.now }, sink: { out.append($0) })
        clock.advance(2)
        bar.update(step: 40)
        #expect(out.text.isEmpty)
        bar.finish()
        #expect(out.text == "40/100 (40%) elapsed 2.0s eta 0s\n")
    }

    @Test func terminalOutputRedrawsInPlaceAtMostTenTimesASecond() {
        let clock = ManualClock()
        let out = Collector()
        let bar = ProgressBar(
            total: 200, label: "train", isTTY: true, columns: 200, barWidth: 10, clock: { clock.now },
            sink: { out.append($0) })
        for step in 1...200 {
            clock.advance(0.01)  // 2 s in all
            bar.update(step: step, metrics: [("acc", "50.0%")])
        }
        // One draw per 0.1 s (the first at once) plus the forced draw of the last step.
        #expect(out.count >= 15 && out.count <= 22)
        #expect(!out.text.contains("\n"))
        bar.log("epoch 1: val acc 80.0%")
        #expect(out.text.contains("\r\u{1B}[Kepoch 1: val acc 80.0%\n"))
        bar.finish(summary: "done")
        let text = out.text
        #expect(text.hasSuffix("\u{1B}[K\ndone\n"))
        #expect(text.contains("train ▕██████████▏ 100% 200/200 acc 50.0%  2.0s < 0s"))
    }

    @Test func pipeOutputIsPlain() throws {
        let pipe = Pipe()
        let bar = ProgressBar(total: 4, label: "eval", output: pipe.fileHandleForWriting)
        #expect(!bar.isTTY)
        for step in 1...4 { bar.update(step: step) }
        bar.finish(summary: "accuracy 91.0%")
        try pipe.fileHandleForWriting.close()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.count == 2)
        #expect(lines.first?.hasPrefix("eval 4/4 (100%) elapsed ") == true)
        #expect(lines.first?.hasSuffix(" eta 0s") == true)
        #expect(lines.last == "accuracy 91.0%")
    }

    @Test func terminalLineIsCutToTheWindowWidth() {
        let out = Collector()
        let bar = ProgressBar(
            total: 10, label: String(repeating: "x", count: 100), isTTY: true, columns: 40, sink: { out.append($0) })
        bar.update(step: 10)
        let drawn = out.text.replacingOccurrences(of: "\r", with: "").replacingOccurrences(of: "\u{1B}[K", with: "")
        #expect(drawn.count == 39)
    }
}
