import Foundation
import GraftCatalog
import GraftData
import GraftModels
import GraftSupport
import GraftWeights
import GraftZoo

/// A published model's card and where its two files are.
public struct PublishedModel {
    public var card: ModelCard
    public var cardURL: URL
    public var weightsURL: URL
}

/// Makes a catalog checkpoint a zoo model of its own: a plain weights file and a model card beside
/// it in the weights directory (`ID.h5`, `ID.card.json`), so that `--model ID` finds its
/// architecture, input size, normalisation and class names, and the card says which run, data
/// and split produced it.
public struct ModelPublisher {
    public var id: String
    public var name: String?
    public var license: String?
    public var notes: String?
    /// Replace a model already published under this id.
    public var replace = false
    /// Publish the checkpoint's weight EMA (`WeightEMA`, a run trained with `--ema`) instead of
    /// its trained weights; the card's accuracy is then the EMA's validation accuracy.
    public var ema = false

    public init(id: String, name: String? = nil, license: String? = nil, notes: String? = nil, replace: Bool = false) {
        self.id = id
        self.name = name
        self.license = license
        self.notes = notes
        self.replace = replace
    }

    /// Writes the weights, then the card: a card on disk always has its weights.
    /// - Throws: `ZooError.invalidCard` when the id is taken (by a shipped card, or by a published
    ///   one without `replace`); catalog, checkpoint and file errors naming what is at fault.
    @discardableResult
    public func publish(
        checkpoint checkpointId: Int64, from catalog: Catalog, to weightsDirectory: URL
    ) throws
        -> PublishedModel
    {
        let cardURL = weightsDirectory.appendingPathComponent(id + Zoo.publishedCardSuffix)
        let weightsURL = weightsDirectory.appendingPathComponent(id + ".h5")
        let shipped = try Zoo.load(directory: Zoo.defaultDirectory)
        if shipped.ids.contains(id) {
            throw ZooError.invalidCard(
                path: cardURL.path, field: "id", reason: "'\(id)' is a shipped model of \(shipped.directory.path)")
        }
        if !replace,
            let existing = [cardURL, weightsURL].first(where: { FileManager.default.fileExists(atPath: $0.path) })
        {
            throw ZooError.alreadyPublished(id: id, path: existing.path)
        }
        let record = try catalog.checkpoint(id: checkpointId)
        let run = try catalog.run(id: record.runId)
        let source = try catalog.verifiedFile(for: record)
        let configuration = try TrainingCheckpoint.runConfiguration(in: source)
        let architecture = try Architecture(named: configuration.architecture)

        // The weights first, atomically; the card names their digest.
        let attributes = try TrainingCheckpoint.export(record, verifiedFile: source, to: weightsURL, ema: ema)
        let accuracy = ema ? try Self.emaAccuracy(of: record, in: source) : record.valAcc
        let data = configuration.data
        let provenance = ModelCard.Provenance(
            catalog: catalog.location, run: record.runId, runName: run.name, checkpoint: checkpointId,
            epoch: record.epoch, dataset: data.source, valFraction: data.validationFraction,
            splitSeed: data.splitSeed, trainPerClass: data.trainPerClass, augment: data.augment,
            epochs: configuration.epochs, weightsSHA256: try SHA256.hex(of: weightsURL),
            publishedAt: WeightsAttributes.now(),
            augmentation: data.effectiveAugmentation.isEmpty ? nil : data.effectiveAugmentation.description)
        let dataset = data.source == DataSpecification.fashionMNIST ? "Fashion-MNIST" : data.source
        let card = ModelCard(
            id: id,
            name: name
                ?? "\(architecture.rawValue) trained by Graft on \(dataset) (\(attributes.classNames.count) classes)\(ema ? ", weight EMA" : "")",
            architecture: architecture.resNetDepth == nil ? architecture.rawValue : "resnet",
            depth: architecture.resNetDepth?.rawValue,
            inputSize: [3, data.imageSize, data.imageSize], resize: data.imageSize,
            mean: attributes.mean.map(Self.shortest), std: attributes.std.map(Self.shortest),
            classNames: attributes.classNames,
            license: license
                ?? (data.source == DataSpecification.fashionMNIST ? "MIT (Fashion-MNIST's licence)" : "unspecified"),
            accuracy: accuracy.map {
                ModelCard.Accuracy(dataset: "\(dataset), validation split", top1: $0 * 100, top5: nil)
            },
            weightsFile: weightsURL.lastPathComponent, notes: notes, trainedBy: provenance)
        try card.validate(path: cardURL.path)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(card), to: cardURL)
        return PublishedModel(card: card, cardURL: cardURL, weightsURL: weightsURL)
    }

    /// The EMA's validation accuracy at the end of the checkpoint's epoch, from the metric history
    /// the checkpoint carries; nil inside an epoch.
    static func emaAccuracy(of record: CheckpointRecord, in file: URL) throws -> Double? {
        guard record.valAcc != nil else { return nil }
        let position: TrainingPosition = try TrainingCheckpoint.trainingField("position", in: file)
        return position.history.last { $0.epoch == record.epoch }?.emaValidationAccuracy
    }

    /// The normalisation was float32 in training: write 0.485, not 0.48500001430511475.
    static func shortest(_ value: Double) -> Double { Double("\(Float(value))") ?? value }
}
