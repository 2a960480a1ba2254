import Foundation

/// The Okabe–Ito palette: eight colours that stay distinct under the common forms of colour
/// blindness. Yellow comes last because it is faint on white.
public enum PlotPalette {
    public static let colors: [String] = [
        "#0072B2",  // blue
        "#E69F00",  // orange
        "#009E73",  // bluish green
        "#D55E00",  // vermillion
        "#CC79A7",  // reddish purple
        "#56B4E9",  // sky blue
        "#000000",  // black
        "#F0E442",  // yellow
    ]

    /// The `i`-th palette colour, wrapping around.
    public static func color(_ i: Int) -> String {
        colors[((i % colors.count) + colors.count) % colors.count]
    }
}

/// How to print a number in a plot (tick labels, bar values) or a table.
public enum NumberStyle: Sendable, Equatable {
    /// `Format.compact`: about four significant digits.
    case compact
    /// Fixed-point with the given number of decimals.
    case fixed(Int)
    /// A fraction shown as a percentage with the given decimals (`0.87` → `87.0%`).
    case percent(Int)
    /// Scientific with the given significant digits (`3.0e-3`).
    case scientific(Int)
    /// Rounded to an integer, with thousands separators.
    case integer
    /// Seconds as a duration (`1m 23s`).
    case duration

    public func format(_ v: Double) -> String {
        switch self {
        case .compact: return Format.compact(v)
        case let .fixed(d): return Format.fixed(v, digits: d)
        case let .percent(d): return Format.percent(v, digits: d)
        case let .scientific(d): return Format.scientific(v, digits: d)
        case .integer: return abs(v) < 9e15 ? Format.integer(Int(v.rounded())) : Format.compact(v)
        case .duration: return Format.duration(v)
        }
    }
}

/// Small helpers for writing SVG text by hand: coordinates with one decimal, escaped strings.
enum SVG {
    static let fontFamily = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"

    /// A coordinate with at most one decimal (`12`, `12.5`), enough for screen pixels.
    static func n(_ v: Double) -> String {
        guard v.isFinite else { return "0" }
        let r = (v * 10).rounded() / 10
        if r == r.rounded(), abs(r) < 1e15 { return String(Int(r)) }
        return String(format: "%.1f", r)
    }

    /// Rough width in pixels of `text` at `fontSize`, for layout (labels, legend). Proportional
    /// sans-serif fonts average about 0.6 em per character.
    static func textWidth(_ text: String, fontSize: Double) -> Double {
        Double(text.count) * fontSize * 0.6
    }

    /// A stable 64-bit FNV-1a hash, used to give each plot's clip path a unique id so several
    /// plots can be inlined in one HTML page.
    static func hash(_ parts: [String]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for part in parts {
            for b in part.utf8 {
                h ^= UInt64(b)
                h = h &* 0x0000_0100_0000_01b3
            }
            h ^= 0xff
            h = h &* 0x0000_0100_0000_01b3
        }
        return String(h, radix: 16)
    }

    /// Shortens `text` to at most `maxChars` characters with an ellipsis.
    static func truncate(_ text: String, maxChars: Int) -> String {
        guard text.count > maxChars, maxChars > 1 else { return text }
        return String(text.prefix(maxChars - 1)) + "…"
    }
}
