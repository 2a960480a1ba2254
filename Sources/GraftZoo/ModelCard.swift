import Foundation
import GraftModels
import GraftWeights

/// A zoo entry: what a model is, how its inputs are prepared, and where its official weights
/// come from. Cards are JSON files in `Models/`, validated when loaded.
public struct ModelCard: Codable, Sendable, Equatable {
    /// The official weights file a card refers to (e.g. torchvision's download).
    public struct Source: Codable, Sendable, Equatable {
        public var file: String
        public var url: String?
        /// Full SHA-256 of the file, when known.
        public var sha256: String?
        /// Leading hex digits of the SHA-256 (torchvision puts 8 of them in the file name),
        /// used when the full hash is not recorded.
        public var sha256Prefix: String?

        enum CodingKeys: String, CodingKey {
            case file, url, sha256, sha256Prefix = "sha256_prefix"
        }
    }

    /// Accuracy the source reports for its weights.
    public struct Accuracy: Codable, Sendable, Equatable {
        public var dataset: String
        public var top1: Double
        public var top5: Double?

        public init(dataset: String, top1: Double, top5: Double? = nil) {
            self.dataset = dataset
            self.top1 = top1
            self.top5 = top5
        }
    }

    /// How a model Graft trained itself came about (`graft models publish`): the catalog run and
    /// checkpoint, the data, split and image size it saw, and the weights file's digest.
    public struct Provenance: Codable, Sendable, Equatable {
        public var catalog: String
        public var run: Int64
        public var runName: String?
        public var checkpoint: Int64
        public var epoch: Int
        /// `fashion-mnist` or the ImageFolder directory the run trained on.
        public var dataset: String
        /// Validation fraction and seed of the stratified split; training images per class when capped.
        public var valFraction: Double
        public var splitSeed: UInt64
        public var trainPerClass: Int?
        public var augment: Bool
        /// The training augmentation in words (`Augmentation.description`, e.g. `standard:
        /// crop+flip, trivial-augment-wide`); nil for cards written before it was recorded, or none.
        public var augmentation: String?
        public var epochs: Int
        /// SHA-256 of the published weights file.
        public var weightsSHA256: String
        public var publishedAt: String

        public init(
            catalog: String, run: Int64, runName: String?, checkpoint: Int64, epoch: Int, dataset: String,
            valFraction: Double, splitSeed: UInt64, trainPerClass: Int?, augment: Bool, epochs: Int,
            weightsSHA256: String, publishedAt: String, augmentation: String? = nil
        ) {
            self.catalog = catalog
            self.run = run
            self.runName = runName
            self.checkpoint = checkpoint
            self.epoch = epoch
            self.dataset = dataset
            self.valFraction = valFraction
            self.splitSeed = splitSeed
            self.trainPerClass = trainPerClass
            self.augment = augment
            self.augmentation = augmentation
            self.epochs = epochs
            self.weightsSHA256 = weightsSHA256
            self.publishedAt = publishedAt
        }

        enum CodingKeys: String, CodingKey {
            case catalog, run, runName = "run_name", checkpoint, epoch, dataset, valFraction = "val_fraction"
            case splitSeed = "split_seed", trainPerClass = "train_per_class", augment, augmentation, epochs
            case weightsSHA256 = "weights_sha256", publishedAt = "published_at"
        }
    }

    public var id: String
    public var name: String
    /// Architecture family: `resnet` (with `depth`) or `vanilla-cnn`.
    public var architecture: String
    public var depth: Int?
    /// `[channels, height, width]` the model expects.
    public var inputSize: [Int]
    /// Eval transform: resize the shorter side to this, then centre-crop to `inputSize`.
    public var resize: Int?
    public var mean: [Double]
    public var std: [Double]
    public var numClasses: Int
    /// Default class names (empty when the card does not carry them).
    public var classNames: [String]
    /// A file beside the card with one class name per line, used when `classNames` is empty.
    public var classNamesFile: String?
    public var source: Source?
    public var license: String
    public var accuracy: Accuracy?
    /// File name of the converted weights under `Weights/`.
    public var weightsFile: String
    public var notes: String?
    /// Set on the cards of models trained and published by Graft.
    public var trainedBy: Provenance?

    enum CodingKeys: String, CodingKey {
        case id, name, architecture, depth, inputSize = "input_size", resize, mean, std
        case numClasses = "num_classes", classNames = "class_names", classNamesFile = "class_names_file"
        case source, license, accuracy, weightsFile = "weights_file", notes, trainedBy = "trained_by"
    }

    public init(
        id: String, name: String, architecture: String, depth: Int?, inputSize: [Int], resize: Int?,
        mean: [Double], std: [Double], classNames: [String], license: String, accuracy: Accuracy?,
        weightsFile: String, notes: String?, trainedBy: Provenance?
    ) {
        self.id = id
        self.name = name
        self.architecture = architecture
        self.depth = depth
        self.inputSize = inputSize
        self.resize = resize
        self.mean = mean
        self.std = std
        self.numClasses = classNames.count
        self.classNames = classNames
        self.classNamesFile = nil
        self.source = nil
        self.license = license
        self.accuracy = accuracy
        self.weightsFile = weightsFile
        self.notes = notes
        self.trainedBy = trainedBy
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? id
        architecture = try c.decode(String.self, forKey: .architecture)
        depth = try c.decodeIfPresent(Int.self, forKey: .depth)
        inputSize = try c.decode([Int].self, forKey: .inputSize)
        resize = try c.decodeIfPresent(Int.self, forKey: .resize)
        mean = try c.decode([Double].self, forKey: .mean)
        std = try c.decode([Double].self, forKey: .std)
        numClasses = try c.decode(Int.self, forKey: .numClasses)
        classNames = try c.decodeIfPresent([String].self, forKey: .classNames) ?? []
        classNamesFile = try c.decodeIfPresent(String.self, forKey: .classNamesFile)
        source = try c.decodeIfPresent(Source.self, forKey: .source)
        license = try c.decode(String.self, forKey: .license)
        accuracy = try c.decodeIfPresent(Accuracy.self, forKey: .accuracy)
        weightsFile = try c.decodeIfPresent(String.self, forKey: .weightsFile) ?? "\(id).h5"
        notes = try c.decodeIfPresent(String.self, forKey: .notes)
        trainedBy = try c.decodeIfPresent(Provenance.self, forKey: .trainedBy)
    }

    /// The `Architecture` name: `resnet34`, `vanilla-cnn`.
    public var modelArchitecture: String {
        if let depth, architecture == "resnet" { return "resnet\(depth)" }
        return architecture
    }

    /// Card families and their depths: exactly what `Architecture` builds.
    static var knownArchitectures: [String: [Int]] {
        var known: [String: [Int]] = [:]
        for a in Architecture.allCases {
            if let depth = a.resNetDepth {
                known["resnet", default: []].append(depth.rawValue)
            } else {
                known[a.rawValue] = []
            }
        }
        return known
    }

    /// Checks every field; throws naming the card file and the first bad field.
    public func validate(path: String) throws {
        func fail(_ field: String, _ reason: String) -> ZooError {
            .invalidCard(path: path, field: field, reason: reason)
        }
        let idCharacters = Set("abcdefghijklmnopqrstuvwxyz0123456789-_.")
        guard !id.isEmpty, id.allSatisfy({ idCharacters.contains($0) }) else {
            throw fail("id", "'\(id)' must be non-empty lowercase letters, digits, '-', '_' or '.'")
        }
        guard let depths = Self.knownArchitectures[architecture] else {
            throw fail(
                "architecture",
                "'\(architecture)' is not one of \(Self.knownArchitectures.keys.sorted().joined(separator: ", "))")
        }
        if depths.isEmpty {
            if let depth { throw fail("depth", "\(architecture) has no depth variants, got \(depth)") }
        } else {
            guard let depth, depths.contains(depth) else {
                throw fail(
                    "depth",
                    "\(architecture) needs one of \(depths.map(String.init).joined(separator: ", ")), got \(depth.map(String.init) ?? "none")"
                )
            }
        }
        guard inputSize.count == 3, inputSize[0] == 3, inputSize[1] > 0, inputSize[2] > 0 else {
            throw fail("input_size", "must be [3, height, width] with positive sizes, got \(inputSize)")
        }
        if let resize, resize < min(inputSize[1], inputSize[2]) {
            throw fail("resize", "\(resize) is smaller than the crop \(inputSize[1])×\(inputSize[2])")
        }
        guard mean.count == 3, mean.allSatisfy({ $0.isFinite }) else {
            throw fail("mean", "needs 3 finite values, got \(mean)")
        }
        guard std.count == 3, std.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw fail("std", "needs 3 positive values, got \(std)")
        }
        guard numClasses >= 1 else { throw fail("num_classes", "must be at least 1, got \(numClasses)") }
        guard classNames.isEmpty || classNames.count == numClasses else {
            throw fail("class_names", "has \(classNames.count) names for \(numClasses) classes")
        }
        guard !license.trimmingCharacters(in: .whitespaces).isEmpty else { throw fail("license", "must not be empty") }
        guard !weightsFile.isEmpty, !weightsFile.contains("/"), weightsFile.hasSuffix(".h5") else {
            throw fail("weights_file", "'\(weightsFile)' must be a plain file name ending in .h5")
        }
        if let source {
            let hex = Set("0123456789abcdef")
            guard !source.file.isEmpty, !source.file.contains("/") else {
                throw fail("source.file", "must be a plain file name")
            }
            if let url = source.url,
                !(url.hasPrefix("https://") || url.hasPrefix("http://")) || !url.hasSuffix(source.file)
            {
                throw fail("source.url", "'\(url)' must be an http(s) URL ending in the file name \(source.file)")
            }
            if let sha = source.sha256, sha.count != 64 || !sha.allSatisfy({ hex.contains($0) }) {
                throw fail("source.sha256", "must be 64 lowercase hex digits")
            }
            if let prefix = source.sha256Prefix {
                guard (4...64).contains(prefix.count), prefix.allSatisfy({ hex.contains($0) }) else {
                    throw fail("source.sha256_prefix", "must be 4 to 64 lowercase hex digits")
                }
                if let sha = source.sha256, !sha.hasPrefix(prefix) {
                    throw fail("source.sha256_prefix", "\(prefix) is not the start of source.sha256")
                }
            }
        }
        if let trained = trainedBy {
            let hex = Set("0123456789abcdef")
            guard trained.weightsSHA256.count == 64, trained.weightsSHA256.allSatisfy({ hex.contains($0) }) else {
                throw fail("trained_by.weights_sha256", "must be 64 lowercase hex digits")
            }
            guard (0..<1).contains(trained.valFraction) else {
                throw fail("trained_by.val_fraction", "\(trained.valFraction) is not in [0, 1)")
            }
        }
        if let accuracy, !(0...100).contains(accuracy.top1) {
            throw fail("accuracy.top1", "\(accuracy.top1) is not a percentage")
        }
    }

    /// Reads and validates a card file.
    /// - Throws: `ZooError.invalidCard` naming the file and field, or `.fileNotFound`.
    public static func load(_ url: URL) throws -> ModelCard {
        let data = try ZooError.readFile(url)
        let card: ModelCard
        do {
            card = try JSONDecoder().decode(ModelCard.self, from: data)
        } catch let DecodingError.keyNotFound(key, context) {
            let path = (context.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: ".")
            throw ZooError.invalidCard(path: url.path, field: path, reason: "is missing")
        } catch let DecodingError.typeMismatch(type, context) {
            throw ZooError.invalidCard(
                path: url.path, field: context.codingPath.map(\.stringValue).joined(separator: "."),
                reason: "should be \(type)")
        } catch let DecodingError.valueNotFound(type, context) {
            throw ZooError.invalidCard(
                path: url.path, field: context.codingPath.map(\.stringValue).joined(separator: "."),
                reason: "is null, should be \(type)")
        } catch {
            throw ZooError.invalidCard(path: url.path, field: "(file)", reason: "not valid JSON")
        }
        try card.validate(path: url.path)
        return card
    }

    /// Class names: the card's own, else those in `classNamesFile` (resolved beside the card).
    public func resolvedClassNames(cardDirectory: URL) throws -> [String] {
        if !classNames.isEmpty { return classNames }
        guard let classNamesFile else { return [] }
        let url = cardDirectory.appendingPathComponent(classNamesFile)
        let text = String(decoding: try ZooError.readFile(url), as: UTF8.self)
        let names = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            .filter { !$0.isEmpty }
        guard names.count == numClasses else {
            throw ZooError.invalidCard(
                path: url.path, field: "class_names_file", reason: "has \(names.count) names for \(numClasses) classes")
        }
        return names
    }
}

extension ModelCard {
    /// The card as (field, value) lines for people, in the order `graft models show` prints
    /// them. `weights` is where its converted weights belong, `present` whether they are there,
    /// and `attributes` what their file records, when it could be read.
    public func describedFields(
        weightsAt weights: URL, present: Bool, attributes: WeightsAttributes?
    ) -> [(String, String)] {
        var lines: [(String, String)] = [
            ("id", id), ("name", name), ("architecture", modelArchitecture),
            ("input size", inputSize.map(String.init).joined(separator: "×")),
            (
                "eval transform",
                "resize shorter side to \(resize.map(String.init) ?? "-"), centre crop \(inputSize[1])×\(inputSize[2])"
            ),
            ("mean", mean.map { "\($0)" }.joined(separator: ", ")),
            ("std", std.map { "\($0)" }.joined(separator: ", ")),
            (
                "classes",
                "\(numClasses)"
                    + (classNames.isEmpty
                        ? " (names not bundled)"
                        : ": " + classNames.prefix(10).joined(separator: ", ")
                            + (classNames.count > 10 ? ", …" : ""))
            ),
            ("license", license),
        ]
        if let accuracy = accuracy {
            lines.append(
                (
                    "accuracy",
                    "\(accuracy.dataset) top-1 \(accuracy.top1)%" + (accuracy.top5.map { ", top-5 \($0)%" } ?? "")
                ))
        }
        if let source = source {
            lines.append(("source file", source.file))
            if let url = source.url { lines.append(("source url", url)) }
            if let sha = source.sha256 ?? source.sha256Prefix { lines.append(("source sha256", sha)) }
        } else if let trained = trainedBy {
            lines.append(
                (
                    "trained by",
                    "graft, run \(trained.run)\(trained.runName.map { " (\($0))" } ?? ""), checkpoint \(trained.checkpoint) (epoch \(trained.epoch) of \(trained.epochs)) in \(trained.catalog)"
                ))
            lines.append(
                (
                    "data",
                    "\(trained.dataset), validation \(trained.valFraction) of each class (split seed \(trained.splitSeed))"
                        + (trained.trainPerClass.map { ", at most \($0) training images per class" } ?? "")
                        + (trained.augmentation.map { ", augmented (\($0))" } ?? (trained.augment ? ", augmented" : ""))
                ))
            lines.append(("weights sha256", trained.weightsSHA256))
        } else {
            lines.append(("source", "none (trained from scratch)"))
        }
        if present {
            lines.append(
                (
                    "weights",
                    "present: \(weights.path)"
                        + (attributes.map { " (from \($0.sourceFile), converted \($0.convertedAt))" } ?? "")
                ))
        } else {
            lines.append(("weights", "absent: \(weights.path)"))
        }
        if let notes = notes { lines.append(("notes", notes)) }
        return lines
    }
}
