import ArgumentParser
import Foundation
import GraftData

/// `graft data …`: image folders, splits, statistics and the Fashion-MNIST export.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Scan image folders, make train/val splits, compute channel statistics, export Fashion-MNIST.",
        subcommands: [Scan.self, SplitFolder.self, Stats.self, ExportFashionMNIST.self])

    /// Prints what a scan left out, on standard error.
    static func reportUnreadable(_ folder: ImageFolder) {
        for u in folder.unreadable {
            FileHandle.standardError.write(Data("warning: skipping \(u.reason)\n".utf8))
        }
    }

    /// `graft data scan DIR`
    struct Scan: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the classes and images of a folder (one subfolder per class) and what is unreadable.")

        @Argument(help: "Dataset root: DIR/<class>/<image>.jpg (or .png)")
        var dir: String
        @Flag(help: "Decode every file whole, not only its header, to find truncated or corrupt images.")
        var verify = false

        func run() throws {
            let folder = try ImageFolder(root: URL(fileURLWithPath: dir), verify: verify)
            var perClass = [Int](repeating: 0, count: folder.classNames.count)
            for s in folder.samples { perClass[s.label] += 1 }
            print(
                "\(folder.count) images in \(folder.classNames.count) classes"
                    + (verify ? " (every file decoded)" : " (headers read; --verify decodes every file)"))
            for (i, name) in folder.classNames.enumerated() { print("  \(i)\t\(name)\t\(perClass[i])") }
            if !folder.skipped.isEmpty {
                print("ignored (hidden or not an image): \(folder.skipped.joined(separator: ", "))")
            }
            if !folder.unreadable.isEmpty {
                print("unreadable: \(folder.unreadable.count)")
                for u in folder.unreadable { print("  \(u.reason)") }
            }
        }
    }

    /// `graft data split DIR --val 0.2 --seed 0 [--output FILE]`
    struct SplitFolder: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "split",
            abstract: "Make a stratified, seeded train/validation split and write it to a JSON file.",
            discussion:
                "The default output is DIR/.graft-split.json (hidden, so scans ignore it). Use --output when DIR is read-only."
        )

        @Argument(help: "Dataset root: DIR/<class>/<image>.jpg (or .png)")
        var dir: String
        @Option(help: "Fraction of each class held out for validation.")
        var val: Double = 0.2
        @Option(help: "Seed of the split.")
        var seed: UInt64 = 0
        @Option(help: "Split file to write (default: DIR/.graft-split.json).")
        var output: String?
        @Flag(help: "Read only each file's header (faster; a truncated image then enters the split).")
        var noVerify = false

        func validate() throws {
            guard val >= 0 && val < 1 else { throw ValidationError("--val must be in [0, 1), got \(val)") }
        }

        func run() throws {
            let root = URL(fileURLWithPath: dir)
            // Every file is decoded by default: an image the split holds must be one training can read.
            let folder = try ImageFolder(root: root, verify: !noVerify)
            DataCommand.reportUnreadable(folder)
            let split = try DataSplit.make(folder, root: root, valFraction: val, seed: seed)
            let url = output.map { URL(fileURLWithPath: $0) } ?? DataSplit.defaultURL(for: root)
            try split.write(to: url)
            let valSet = Set(split.val)
            var counts = [[Int]](repeating: [0, 0], count: folder.classNames.count)
            for s in folder.samples { counts[s.label][valSet.contains(s.path) ? 1 : 0] += 1 }
            print("split written to \(url.path): \(split.train.count) train, \(split.val.count) val (seed \(seed))")
            for (i, name) in folder.classNames.enumerated() {
                print("  \(name)\ttrain \(counts[i][0])\tval \(counts[i][1])")
            }
        }
    }

    /// `graft data stats DIR [--split FILE] [--resize N]`
    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per-channel mean and std over the training split; stored next to the split file.",
            discussion:
                "Reads DIR/.graft-split.json (or --split); makes the default split (val 0.2, seed 0) there first if it does not exist. Writes <split>.stats.json beside it."
        )

        @Argument(help: "Dataset root: DIR/<class>/<image>.jpg (or .png)")
        var dir: String
        @Option(help: "Split file (default: DIR/.graft-split.json).")
        var split: String?
        @Option(help: "Resize the shorter side to this many pixels before counting (0: as decoded).")
        var resize: Int = 0

        func validate() throws {
            guard resize >= 0 else { throw ValidationError("--resize must be 0 or more, got \(resize)") }
        }

        func run() throws {
            let root = URL(fileURLWithPath: dir)
            var folder = try ImageFolder(root: root)
            let splitURL = split.map { URL(fileURLWithPath: $0) } ?? DataSplit.defaultURL(for: root)
            let dataSplit: DataSplit
            if let (existing, listed, matches) = try DataSplit.read(from: splitURL, against: folder) {
                dataSplit = existing
                folder = listed
                DataCommand.reportUnreadable(folder)
                if !matches {
                    FileHandle.standardError.write(
                        Data("warning: \(splitURL.path): the folder changed since the split was made\n".utf8))
                }
            } else {
                DataCommand.reportUnreadable(folder)
                dataSplit = try DataSplit.make(folder, root: root)
                try dataSplit.write(to: splitURL)
                print("no split file: wrote the default split (val 0.2, seed 0) to \(splitURL.path)")
            }
            let (train, _) = try dataSplit.indices(in: folder, splitPath: splitURL.path)
            let failures = FailureLog()
            var stats = try ChannelStats.compute(
                folder, indices: train, resize: resize, options: folder.decodeOptions,
                failures: failures)
            stats.splitHash = dataSplit.fileListHash
            let statsURL = ChannelStats.url(forSplit: splitURL)
            try stats.write(to: statsURL)
            func fmt(_ v: [Double]) -> String { v.map { String(format: "%.4f", $0) }.joined(separator: ", ") }
            print(
                "\(stats.images) training images, \(stats.pixels) pixels"
                    + (failures.entries.isEmpty
                        ? "" : " (\(failures.entries.count) of \(train.count) in the split skipped as unreadable)"))
            print("mean: [\(fmt(stats.mean))]")
            print("std:  [\(fmt(stats.std))]")
            print("written to \(statsURL.path)")
        }
    }

    /// `graft data export-fashion-mnist DIR [--classes …] [--per-class N] [--split train|test] [--size S]`
    struct ExportFashionMNIST: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export-fashion-mnist",
            abstract: "Write Fashion-MNIST images as a JPEG ImageFolder (DIR/<class>/<split>-<index>.jpg).")

        @Argument(help: "Output folder.")
        var dir: String
        @Option(help: "Comma-separated classes: indices (0-9) or names (\"Dress\", \"ankle-boot\"). Default: all.")
        var classes: String?
        @Option(help: "Images per class, the first ones in file order. Default: all.")
        var perClass: Int?
        @Option(help: "train or test.")
        var split: String = "train"
        @Option(help: "Side of the written images in pixels (bilinear upscale; default 28).")
        var size: Int = 28
        @Flag(help: "Write 3-channel RGB JPEGs instead of grayscale.")
        var rgb = false
        @Option(help: "JPEG quality 1-100.")
        var quality: Int = 90
        @Option(
            help: "Folder with the IDX .gz files (default: $GRAFT_FASHION_MNIST or /usr/share/datasets/fashion-mnist).")
        var source: String?

        func validate() throws {
            guard FashionMNIST.Split(rawValue: split) != nil else {
                throw ValidationError("--split must be train or test")
            }
            guard size >= 1 && size <= 4096 else { throw ValidationError("--size must be in 1...4096") }
            guard (1...100).contains(quality) else { throw ValidationError("--quality must be in 1...100") }
            if let perClass, perClass < 1 { throw ValidationError("--per-class must be at least 1") }
            for name in classList where FashionMNIST.classIndex(name) == nil {
                throw ValidationError(
                    "unknown class \"\(name)\"; classes: \(FashionMNIST.folderNames.joined(separator: ", "))")
            }
        }

        var classList: [String] {
            (classes ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }

        func run() throws {
            let directory = source.map { URL(fileURLWithPath: $0) } ?? FashionMNIST.defaultDirectory
            let data = try FashionMNIST(split: FashionMNIST.Split(rawValue: split) ?? .train, directory: directory)
            let wanted = classList.isEmpty ? nil : classList.compactMap(FashionMNIST.classIndex)
            let indices = data.indices(classes: wanted, perClass: perClass)
            let out = URL(fileURLWithPath: dir)
            let written = try data.exportImageFolder(
                to: out, indices: indices, size: size == 28 ? 0 : size,
                rgb: rgb, quality: quality)
            let classCount = Set(indices.map(data.label)).count
            print("wrote \(written) JPEGs in \(classCount) class folders under \(out.path)")
        }
    }
}
