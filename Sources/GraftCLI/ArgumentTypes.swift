import ArgumentParser
import GraftCatalog
import GraftEnsemble
import GraftExport
import GraftModels
import GraftOptim
import GraftTraining

// The library's enums as option values. ArgumentParser lists their canonical names in `--help`
// and in shell completions, and refuses any other value before a command starts; each parses as
// the library does, aliases included (`--schedule sgdr`, `--best val-acc`).

extension ScheduleKind: ExpressibleByArgument {
    public init?(argument: String) { try? self.init(parsing: argument) }
}

extension OptimizerKind: ExpressibleByArgument {
    public init?(argument: String) { try? self.init(parsing: argument) }
}

extension BatchNormPolicy: ExpressibleByArgument {}
extension EarlyStopping.Monitor: ExpressibleByArgument {}

extension CheckpointMetric: ExpressibleByArgument {
    public init?(argument: String) {
        guard let metric = try? CheckpointMetric.parse(argument) else { return nil }
        self = metric
    }
}

extension EvaluationSplit: ExpressibleByArgument {
    public init?(argument: String) {
        let key = argument.lowercased()
        self.init(rawValue: key == "validation" ? "val" : key)
    }
}

extension TestTimeAugmentation: ExpressibleByArgument {
    public static var allValueStrings: [String] { allSets.map(\.description) }

    /// `--tta`'s help, shared by `evaluate`, `predict` and `ensemble`.
    static let optionHelp = ArgumentHelp(
        "Test-time augmentation, probabilities averaged over the views: flip (each image and its mirror), crops (torchvision's FiveCrop: the corners and centre of the resized image), or flip,crops (TenCrop, 10 views).",
        valueName: "views")
}

extension ExportFormat: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}
