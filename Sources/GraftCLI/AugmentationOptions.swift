import ArgumentParser
import Foundation
import GraftData

extension Augmentation.Preset: ExpressibleByArgument {}

/// Training augmentation flags, shared by `train`, `lr-find` and `compare` through
/// `ModelDataOptions`: a preset and explicit ops added on top of it.
struct AugmentationOptions: ParsableArguments {
    @Option(
        name: .customLong("augment"),
        help: ArgumentHelp(
            "Training augmentation preset: light (random resized crop + flip), standard (light + TrivialAugmentWide), strong (standard + random erasing 0.25). A bare --augment is light.",
            valueName: "preset"))
    var preset: Augmentation.Preset?
    @Option(help: ArgumentHelp("RandomRotation: angle uniform in [-DEG, DEG] (nearest, fill 0).", valueName: "deg"))
    var rotate: Double?
    @Option(
        help: ArgumentHelp(
            "ColorJitter amounts brightness,contrast,saturation,hue (torchvision's meaning; hue <= 0.5).",
            valueName: "b,c,s,h"))
    var colorJitter: String?
    @Option(
        help: ArgumentHelp(
            "RandomErasing with probability P (scale 0.02-0.33, ratio 0.3-3.3, value 0).", valueName: "p"))
    var randomErase: Double?
    @Flag(help: "TrivialAugmentWide (31 magnitude bins, nearest, fill 0).") var trivialAugment = false

    /// The augmentation these flags ask for: the preset's ops, then each explicit op over it;
    /// nil when no flag is given.
    /// - Throws: `ValidationError` naming the flag and the value at fault.
    func augmentation() throws -> Augmentation? {
        guard preset != nil || rotate != nil || colorJitter != nil || randomErase != nil || trivialAugment else {
            return nil
        }
        var a = preset.map { Augmentation(preset: $0) } ?? Augmentation()
        if let rotate {
            guard rotate >= 0, rotate.isFinite else {
                throw ValidationError("--rotate takes an angle in degrees >= 0, got \(rotate)")
            }
            a.rotation = rotate
        }
        if let colorJitter {
            let parts = colorJitter.split(separator: ",", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            let values = parts.map(Double.init)
            guard (1...4).contains(parts.count), values.allSatisfy({ $0 != nil }) else {
                throw ValidationError(
                    "--color-jitter takes 1 to 4 numbers brightness,contrast,saturation,hue, got '\(colorJitter)'")
            }
            let v = values.map { $0! } + [Double](repeating: 0, count: 4 - values.count)
            let jitter = ColorJitter(brightness: v[0], contrast: v[1], saturation: v[2], hue: v[3])
            do {
                try jitter.validate()
            } catch {
                throw ValidationError("--color-jitter \(colorJitter): \(error.localizedDescription)")
            }
            a.colorJitter = jitter
        }
        if let randomErase {
            guard (0...1).contains(randomErase) else {
                throw ValidationError("--random-erase takes a probability in [0, 1], got \(randomErase)")
            }
            a.randomErasing = randomErase
        }
        if trivialAugment { a.trivialAugment = true }
        return a
    }

    /// `--augment` with no value means `--augment light`: ArgumentParser has no optional option
    /// values, so a bare `--augment` (followed by nothing or by another option) is completed
    /// before parsing. Arguments after `--` are left alone.
    static func completingBareAugment(_ arguments: [String]) -> [String] {
        var out: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--" {
                out += arguments[index...]
                break
            }
            out.append(argument)
            if argument == "--augment" {
                let next = index + 1 < arguments.count ? arguments[index + 1] : nil
                if next == nil || next!.hasPrefix("-") { out.append(Augmentation.Preset.light.rawValue) }
            }
            index += 1
        }
        return out
    }
}
