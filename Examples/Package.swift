// swift-tools-version:6.0
import PackageDescription

// Small programs that use Graft as a dependency, by path, through `import Graft` alone.
// `make test` builds them and runs each on the fixture photos (scripts/run-examples.sh).
let graft = Target.Dependency.product(name: "Graft", package: "Graft")

let package = Package(
    name: "GraftExamples",
    platforms: [.macOS(.v14)],
    dependencies: [.package(name: "Graft", path: "..")],
    targets: [
        .executableTarget(name: "fine-tune", dependencies: [graft]),
        .executableTarget(name: "best-checkpoints", dependencies: [graft]),
        .executableTarget(name: "snapshot-ensemble", dependencies: [graft]),
        .executableTarget(name: "predict", dependencies: [graft]),
    ]
)
