import Foundation

/// Number formatting shared by plots, tables and the progress bar, so the same value reads the
/// same everywhere (a learning rate is always `3.0e-3`, a duration always `1m 23s`).
public enum Format {
    /// Scientific notation with `digits` significant digits and a short exponent: `3.0e-3`,
    /// `1.25e-1`, `5.0e2`. Zero is `0`, non-finite values are `nan`, `inf`, `-inf`.
    /// - Precondition: `digits >= 1`.
    public static func scientific(_ value: Double, digits: Int = 2) -> String {
        if let special = nonFinite(value) { return special }
        if value == 0 { return "0" }
        let digits = max(1, digits)
        var exponent = Int(floor(log10(abs(value))))
        var mantissa = value / pow(10, Double(exponent))
        let scale = pow(10, Double(digits - 1))
        mantissa = (mantissa * scale).rounded() / scale
        if abs(mantissa) >= 10 {  // 9.96e-4 rounds to 10.0e-4: renormalise to 1.0e-3
            mantissa /= 10
            exponent += 1
        }
        return fixed(mantissa, digits: digits - 1) + "e\(exponent)"
    }

    /// A learning rate: scientific with two significant digits (`3.0e-3`), the form the study and
    /// the LR finder use.
    public static func lr(_ value: Double) -> String {
        scientific(value, digits: 2)
    }

    /// A fraction as a percentage: `0.8723` → `87.2%`.
    public static func percent(_ fraction: Double, digits: Int = 1) -> String {
        if let special = nonFinite(fraction) { return special }
        return fixed(fraction * 100, digits: digits) + "%"
    }

    /// Fixed-point with `digits` decimals (`-0.0` prints as `0.0`).
    public static func fixed(_ value: Double, digits: Int) -> String {
        if let special = nonFinite(value) { return special }
        let digits = max(0, min(digits, 15))
        var text = String(format: "%.\(digits)f", value)
        if text.hasPrefix("-"), text.dropFirst().allSatisfy({ $0 == "0" || $0 == "." }) {
            text.removeFirst()
        }
        return text
    }

    /// A general-purpose short form with about `digits` significant digits: fixed-point for
    /// magnitudes in [1e-3, 1e5), scientific otherwise. `0.43219` → `0.4322`, `1234.5` → `1234.5`,
    /// `2.5e-5` → `2.5e-5`.
    public static func compact(_ value: Double, digits: Int = 4) -> String {
        if let special = nonFinite(value) { return special }
        if value == 0 { return "0" }
        let magnitude = abs(value)
        if magnitude < 1e-3 || magnitude >= 1e5 {
            // Up to three significant digits, trailing zeros dropped: 2.5e-5, not 2.50e-5.
            var text = scientific(value, digits: min(digits, 3))
            if let e = text.firstIndex(of: "e") {
                var mantissa = String(text[..<e])
                while mantissa.hasSuffix("0"), !mantissa.hasSuffix(".0") { mantissa.removeLast() }
                text = mantissa + text[e...]
            }
            return text
        }
        let intDigits = Int(floor(log10(magnitude))) + 1
        return fixed(value, digits: max(0, digits - intDigits))
    }

    /// An integer with thousands separators: `12345` → `12,345`.
    public static func integer(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var out = ""
        out.reserveCapacity(digits.count + digits.count / 3 + 1)
        for (i, ch) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(ch)
        }
        return value < 0 ? "-" + out : out
    }

    /// A duration for humans: `0s`, `0.42s`, `4.2s`, `42s`, `1m 23s`, `2h 05m`, `1d 03h`.
    /// Negative or non-finite durations (an ETA not yet known) print as `--`.
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "--" }
        if seconds == 0 { return "0s" }
        if seconds < 1 { return fixed(seconds, digits: 2) + "s" }
        if seconds < 10 { return fixed(seconds, digits: 1) + "s" }
        let total = Int(seconds.rounded())
        if total < 60 { return "\(total)s" }
        if total < 3600 { return "\(total / 60)m \(pad2(total % 60))s" }
        if total < 86_400 { return "\(total / 3600)h \(pad2((total % 3600) / 60))m" }
        return "\(total / 86_400)d \(pad2((total % 86_400) / 3600))h"
    }

    private static func pad2(_ v: Int) -> String {
        v < 10 ? "0\(v)" : "\(v)"
    }

    private static func nonFinite(_ value: Double) -> String? {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value > 0 ? "inf" : "-inf" }
        return nil
    }
}

/// XML/HTML text escaping, shared by the SVG and HTML writers.
public enum Escape {
    /// Escapes `&`, `<`, `>`, `"` and `'` so `text` is safe in element content and in quoted
    /// attribute values alike. Control characters XML 1.0 forbids are dropped.
    public static func xml(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            default:
                if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF { continue }
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
