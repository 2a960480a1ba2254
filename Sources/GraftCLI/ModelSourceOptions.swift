import ArgumentParser
import Foundation
import GraftCatalog
import GraftZoo

/// The model `evaluate`, `predict` and `export` use: a catalog checkpoint (`--checkpoint ID`), a
/// run's best checkpoint (`--run R --best METRIC`), a weights file (`--weights FILE`, described by
/// `--model ID`'s card when given), or a zoo model's own weights (`--model ID` alone: a published
/// model, or torchvision weights converted into the weights directory).
struct ModelSourceOptions: ParsableArguments {
    @Option(help: "A catalog checkpoint id.") var checkpoint: Int64?
    @Option(name: .customLong("run"), help: "The best checkpoint of this run (see --best).") var runId: Int64?
    @Option(help: "Metric that picks the best checkpoint of --run.") var best: CheckpointMetric = .valAcc
    @Option(help: "A weights file (HDF5): converted, published, exported or an SWA model.") var weights: String?
    @Option(
        help:
            "A zoo model id: with --weights, its card describes the file; alone, its own weights in the weights directory (a published or converted model)."
    )
    var model: String?

    /// A model resolved to what is read.
    enum Source {
        /// A catalog checkpoint, and the catalog it is in.
        case checkpoint(Int64, Catalog)
        /// A weights file, with the card that describes it when one was named.
        case weights(URL, card: ModelCard?, zoo: Zoo?)
    }

    /// Refuses none or several of the four ways, `positional` being a checkpoint id given as an
    /// argument (`graft evaluate ID`).
    func requireOne(positional: Int64? = nil, choices: String = "--checkpoint ID") throws {
        let given = [checkpoint != nil || positional != nil, runId != nil, weights != nil || model != nil]
        guard given.filter({ $0 }).count == 1, checkpoint == nil || positional == nil else {
            throw ValidationError("give one of: \(choices), --run R, --weights FILE or --model ID")
        }
    }

    /// Whether the model comes from the catalog.
    func usesCatalog(positional: Int64? = nil) -> Bool { checkpoint != nil || positional != nil || runId != nil }

    /// The checkpoint or file to read; a catalog is opened only for a checkpoint.
    /// - Throws: `ValidationError` naming a run without checkpoints, or a zoo model whose weights
    ///   are not in the weights directory; zoo and catalog errors.
    func resolve(catalog: CatalogOptions, positional: Int64? = nil) throws -> Source {
        if usesCatalog(positional: positional) {
            let db = try catalog.openExisting()
            let id = try CheckpointSelection.resolve(id: positional ?? checkpoint, run: runId, best: best, in: db)
            return .checkpoint(id, db)
        }
        let zoo = try model.map { _ in try Zoo.shipped() }
        let card = try model.flatMap { try zoo?.card(id: $0) }
        if let weights { return .weights(URL(fileURLWithPath: weights), card: card, zoo: zoo) }
        guard let card else { throw ValidationError("give --weights FILE or --model ID") }
        let url = Zoo.defaultWeightsDirectory.appendingPathComponent(card.weightsFile)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ValidationError(
                "model '\(card.id)' has no weights at \(url.path): convert them (graft convert … --model \(card.id)), publish a run (graft models publish), or give --weights FILE"
            )
        }
        return .weights(url, card: card, zoo: zoo)
    }
}
