import Foundation

/// How an axis maps data to pixels.
public enum AxisScale: Sendable, Equatable {
    /// Evenly spaced values; ticks at 1, 2 or 5 × 10ⁿ steps.
    case linear
    /// Base-10 logarithmic; only positive values are drawn, ticks at decades labelled `1e-7`.
    case log10
}

/// One tick on an axis: where it is (data units), its label (empty for minor ticks) and whether
/// it gets a full-strength grid line.
struct Tick: Equatable {
    var value: Double
    var label: String
    var major: Bool
}

/// A data interval and its scale, mapping values to a pixel range.
struct AxisMap {
    let scale: AxisScale
    let lo: Double
    let hi: Double
    let pixelLo: Double
    let pixelHi: Double

    /// Whether `v` can be drawn on this axis at all (finite, positive on a log axis).
    func accepts(_ v: Double) -> Bool {
        v.isFinite && (scale == .linear || v > 0)
    }

    func transform(_ v: Double) -> Double {
        scale == .log10 ? Foundation.log10(v) : v
    }

    /// Pixel position of `v`; the caller checks `accepts(v)` first.
    func pixel(_ v: Double) -> Double {
        let a = transform(lo), b = transform(hi)
        let t = b == a ? 0.5 : (transform(v) - a) / (b - a)
        return pixelLo + t * (pixelHi - pixelLo)
    }

    func contains(_ v: Double) -> Bool {
        let a = min(lo, hi), b = max(lo, hi)
        let eps = (scale == .log10 ? 1e-9 * b : 1e-9 * max(abs(b - a), abs(b)))
        return v >= a - eps && v <= b + eps
    }
}

enum Ticks {
    /// The data interval an axis should show for `values` (already filtered to acceptable ones).
    /// Empty input gives a default interval; a single value or constant data is widened so the
    /// line sits in the middle. `pad` is the fraction of the span added on each side.
    static func domain(_ values: [Double], scale: AxisScale, pad: Double) -> (Double, Double) {
        var lo = Double.infinity, hi = -Double.infinity
        for v in values {
            lo = min(lo, v)
            hi = max(hi, v)
        }
        switch scale {
        case .linear:
            if !(lo <= hi) { return (0, 1) }
            if lo == hi {
                let d = lo == 0 ? 1 : abs(lo) * 0.1
                return (lo - d, hi + d)
            }
            let p = (hi - lo) * pad
            return (lo - p, hi + p)
        case .log10:
            if !(lo <= hi) { return (1, 10) }
            var a = Foundation.log10(lo), b = Foundation.log10(hi)
            if a == b {
                a -= 0.5
                b += 0.5
            } else {
                let p = (b - a) * pad
                a -= p
                b += p
            }
            return (pow(10, a), pow(10, b))
        }
    }

    /// Heckbert's "nice number": 1, 2, 5 or 10 × 10ⁿ near `x`.
    static func niceNumber(_ x: Double, round: Bool) -> Double {
        guard x > 0, x.isFinite else { return 1 }
        let exponent = floor(Foundation.log10(x))
        let fraction = x / pow(10, exponent)
        let nice: Double
        if round {
            nice = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10
        } else {
            nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10
        }
        return nice * pow(10, exponent)
    }

    /// Ticks for a linear axis over [lo, hi], about `target` of them, all inside the interval.
    /// With `integral` the step is at least 1 (epochs, ensemble sizes).
    static func linear(lo: Double, hi: Double, target: Int, integral: Bool) -> [Tick] {
        guard lo.isFinite, hi.isFinite, hi > lo else { return [] }
        // The nice step nearest to span/target (not Heckbert's loose variant, which rounds the
        // span first and can leave a tight data range with only two ticks).
        var step = niceNumber((hi - lo) / Double(max(target, 1)), round: true)
        if integral, step < 1 { step = 1 }
        let first = ceil(lo / step - 1e-9)
        let last = floor(hi / step + 1e-9)
        guard last >= first, last - first < 1000 else { return [] }
        let decimals = max(0, -Int(floor(Foundation.log10(step) + 1e-9)))
        let magnitude = max(abs(lo), abs(hi))
        let scientific = magnitude >= 1e5 || magnitude < 1e-2 || step < 1e-4
        var ticks: [Tick] = []
        var k = first
        while k <= last {
            var v = k * step
            if abs(v) < step * 1e-9 { v = 0 }
            let label = scientific ? Format.scientific(v, digits: 2) : Format.fixed(v, digits: decimals)
            ticks.append(Tick(value: v, label: label, major: true))
            k += 1
        }
        return ticks
    }

    /// Ticks for a log axis over [lo, hi]: labelled decades (`1e-7`, …), thinned to at most
    /// about `target`, with unlabelled minor ticks at 2…9 × 10ⁿ when there is room. When the
    /// interval holds fewer than two decades, 2× and 5× ticks are labelled too.
    static func log(lo: Double, hi: Double, target: Int) -> [Tick] {
        guard lo > 0, hi > lo, lo.isFinite, hi.isFinite else { return [] }
        let a = Foundation.log10(lo), b = Foundation.log10(hi)
        let firstDecade = Int(ceil(a - 1e-9)), lastDecade = Int(floor(b + 1e-9))
        let decadeCount = lastDecade - firstDecade + 1
        let stride = max(1, Int(ceil(Double(decadeCount) / Double(max(target, 2)))))
        var ticks: [Tick] = []
        let fewDecades = decadeCount < 2
        let withMinor = stride == 1 && (b - a) <= 12
        for e in (firstDecade - 1)...lastDecade {
            let base = pow(10, Double(e))
            if e >= firstDecade, (e - firstDecade) % stride == 0 {
                ticks.append(Tick(value: base, label: "1e\(e)", major: true))
            } else if e >= firstDecade, withMinor {
                ticks.append(Tick(value: base, label: "", major: false))
            }
            guard withMinor || fewDecades else { continue }
            for m in 2...9 {
                let v = Double(m) * base
                guard v >= lo * (1 - 1e-9), v <= hi * (1 + 1e-9) else { continue }
                let labelled = fewDecades && (m == 2 || m == 5)
                ticks.append(Tick(value: v, label: labelled ? "\(m)e\(e)" : "", major: labelled))
            }
        }
        return ticks
    }
}
