import Foundation
import GraftSupport

/// The model cards of a `Models/` directory.
public struct Zoo: Sendable {
    public let directory: URL
    /// Cards sorted by id.
    public let cards: [ModelCard]

    /// Cards of the models Graft trained and published (`graft models publish`) lie beside their
    /// weights as `ID.card.json`.
    public static let publishedCardSuffix = ".card.json"

    /// Loads and validates every `*.json` card in `directory`.
    /// - Throws: `ZooError` naming the first bad card, or a duplicate id.
    public static func load(directory: URL) throws -> Zoo {
        let cards = try loadCards(in: directory, suffix: ".json")
        return Zoo(directory: directory, cards: cards.map(\.card).sorted { $0.id < $1.id })
    }

    /// This zoo with the published cards of a weights directory added (none when it has none).
    /// - Throws: `ZooError` for a bad card, or for a published id that is also a shipped one.
    public func addingPublished(in weightsDirectory: URL) throws -> Zoo {
        guard Self.isDirectory(weightsDirectory) else { return self }
        var all = cards
        for (card, url) in try Self.loadCards(in: weightsDirectory, suffix: Self.publishedCardSuffix) {
            if all.contains(where: { $0.id == card.id }) {
                throw ZooError.invalidCard(
                    path: url.path, field: "id",
                    reason: "'\(card.id)' is also the id of a card in \(directory.path)")
            }
            all.append(card)
        }
        return Zoo(directory: directory, cards: all.sorted { $0.id < $1.id })
    }

    static func loadCards(in directory: URL, suffix: String) throws -> [(card: ModelCard, url: URL)] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw ZooError.unreadable(
                path: directory.path, reason: "cannot list the model cards directory",
                cause: ErrorCause(error))
        }
        var cards: [(card: ModelCard, url: URL)] = []
        var seen: [String: String] = [:]
        for name in names.sorted() where name.hasSuffix(suffix) {
            let url = directory.appendingPathComponent(name)
            let card = try ModelCard.load(url)
            if let other = seen[card.id] {
                throw ZooError.invalidCard(
                    path: url.path, field: "id", reason: "'\(card.id)' is also the id of \(other)")
            }
            seen[card.id] = name
            // A missing or short class-names file is the card's fault: say so when the zoo loads.
            _ = try card.resolvedClassNames(cardDirectory: directory)
            cards.append((card, url))
        }
        return cards
    }

    public var ids: [String] { cards.map(\.id) }

    /// A card's class names, with `class_names_file` read from this zoo's directory.
    public func classNames(of card: ModelCard) throws -> [String] {
        try card.resolvedClassNames(cardDirectory: directory)
    }

    /// The card with this id.
    /// - Throws: `ZooError.unknownModel` listing the known ids.
    public func card(id: String) throws -> ModelCard {
        guard let card = cards.first(where: { $0.id == id }) else {
            throw ZooError.unknownModel(id: id, known: ids)
        }
        return card
    }

    /// The zoo's cards, wherever `graft` runs from: `$GRAFT_MODELS` when set, else the cards
    /// installed beside the executable (`PREFIX/share/graft/Models`, see `make install`), else
    /// the `Models/` folder of the source tree the executable was built from. Never the working
    /// directory: what a model id means must not depend on where a command is started.
    public static var defaultDirectory: URL {
        if let env = ProcessInfo.processInfo.environment["GRAFT_MODELS"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        return candidateDirectories.first { isDirectory($0) } ?? candidateDirectories.last!
    }

    /// Where the shipped cards are looked for, in order (after `$GRAFT_MODELS`).
    static var candidateDirectories: [URL] {
        var candidates: [URL] = []
        if let executable = Bundle.main.executableURL?.resolvingSymlinksInPath() {
            candidates.append(
                executable.deletingLastPathComponent()
                    .appendingPathComponent("../share/graft/Models").standardizedFileURL)
        }
        // Sources/GraftZoo/Zoo.swift -> the package root's Models/.
        candidates.append(
            URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .appendingPathComponent("../../Models").standardizedFileURL)
        return candidates
    }

    static func isDirectory(_ url: URL) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) && isDir.boolValue
    }

    /// The shipped zoo (`defaultDirectory`) and the models published into the weights directory
    /// (`defaultWeightsDirectory`).
    /// - Throws: `ZooError.unreadable` naming every place looked in when no zoo is found.
    public static func shipped(weightsDirectory: URL = defaultWeightsDirectory) throws -> Zoo {
        let directory = defaultDirectory
        guard isDirectory(directory) else {
            let looked =
                ProcessInfo.processInfo.environment["GRAFT_MODELS"].map { [$0] }
                ?? candidateDirectories.map(\.path)
            throw ZooError.unreadable(
                path: directory.path,
                reason:
                    "no model cards found (looked in \(looked.joined(separator: ", ")); set GRAFT_MODELS to the zoo's Models directory"
            )
        }
        return try load(directory: directory).addingPublished(in: weightsDirectory)
    }

    /// `Weights/` under the current directory, or `$GRAFT_WEIGHTS`.
    public static var defaultWeightsDirectory: URL {
        if let env = ProcessInfo.processInfo.environment["GRAFT_WEIGHTS"] { return URL(fileURLWithPath: env) }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("Weights")
    }
}
