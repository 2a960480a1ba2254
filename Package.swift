// swift-tools-version:6.0
import Foundation
import PackageDescription

// `GRAFT_DNNL=0 swift build …` builds without oneDNN, for platforms that lack it: convolutions then
// run Graft's Winograd and im2col + OpenBLAS sgemm (README, "Building without oneDNN").
let withOneDNN = ProcessInfo.processInfo.environment["GRAFT_DNNL"] != "0"

// C libraries come from Debian packages (scripts/install-deps.sh). Only GraftTensor calls BLAS,
// only GraftWeights calls HDF5, only GraftData calls libjpeg, only GraftCatalog calls libpq, only
// GraftSupport calls libcrypto (OpenSSL's SHA-256, rather than swift-crypto, whose BoringSSL was
// most of a fresh build). Every target lists each target its files import.
let package = Package(
    name: "Graft",
    platforms: [.macOS(.v14)],
    products: [
        // The command line's module is GraftCLI, so that it and the library module Graft differ by
        // more than case (file systems that ignore case would mix their files up).
        .executable(name: "graft", targets: ["GraftCLI"]),
        // `import Graft` brings every module; each stays importable alone (`import GraftCatalog`).
        .library(
            name: "Graft",
            targets: [
                "Graft", "GraftTensor", "GraftNN", "GraftModels", "GraftWeights", "GraftZoo", "GraftData", "GraftOptim",
                "GraftCatalog", "GraftReport", "GraftTraining", "GraftEnsemble", "GraftStudy", "GraftSupport",
                "GraftExport",
            ]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CLibCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .target(name: "CJPEG", linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("z")]),
        // libpng (libpng-dev), for GraftData's PNG reader as libjpeg is for its JPEG reader.
        .target(name: "CPNG", linkerSettings: [.linkedLibrary("png")]),

        // Graft's own C kernels (its Winograd, the arena and the parallel loops), on OpenBLAS; the
        // oneDNN layer (CDNNL, below) builds on them.
        .target(name: "CGraftKernels", dependencies: ["CBLAS"]),
        .target(name: "GraftSupport", dependencies: ["CLibCrypto"]),
        .target(
            name: "GraftTensor", dependencies: ["CBLAS", "CGraftKernels"] + (withOneDNN ? ["CDNNL"] : []),
            swiftSettings: withOneDNN ? [.define("GRAFT_DNNL")] : []),
        .target(name: "GraftNN", dependencies: ["GraftTensor"]),
        .target(name: "GraftModels", dependencies: ["GraftNN", "GraftTensor"]),
        .target(name: "GraftWeights", dependencies: ["GraftTensor", "GraftSupport", "CHDF5"]),
        .target(
            name: "GraftZoo",
            dependencies: [
                "GraftModels", "GraftNN", "GraftTensor", "GraftWeights", "GraftSupport",
            ]),
        .target(name: "GraftData", dependencies: ["GraftTensor", "GraftSupport", "CJPEG", "CPNG"]),
        // Model export: safetensors with the card, ONNX graphs (the generated onnx.pb.swift).
        .target(
            name: "GraftExport",
            dependencies: [
                "GraftZoo", "GraftModels", "GraftNN", "GraftTensor", "GraftWeights", "GraftSupport",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ], exclude: ["ONNX/README.md"]),
        .target(name: "GraftOptim", dependencies: ["GraftNN", "GraftTensor"]),
        .target(
            name: "GraftCatalog",
            dependencies: ["GraftSupport", "CLibPQ", .product(name: "GRDB", package: "GRDB.swift")]),
        .target(name: "GraftReport", dependencies: ["GraftCatalog", "GraftSupport"]),
        .target(
            name: "GraftTraining",
            dependencies: [
                "GraftTensor", "GraftNN", "GraftModels", "GraftWeights", "GraftZoo", "GraftData", "GraftOptim",
                "GraftCatalog", "GraftReport", "GraftSupport",
            ]),
        .target(
            name: "GraftEnsemble",
            dependencies: [
                "GraftTraining", "GraftTensor", "GraftNN", "GraftModels", "GraftWeights", "GraftData",
                "GraftCatalog", "GraftReport", "GraftSupport",
            ]),
        .target(
            name: "GraftStudy",
            dependencies: [
                "GraftTraining", "GraftCatalog", "GraftOptim", "GraftReport", "GraftSupport",
            ]),
        .target(
            name: "Graft",
            dependencies: [
                "GraftTensor", "GraftNN", "GraftModels", "GraftWeights", "GraftZoo", "GraftData", "GraftOptim",
                "GraftCatalog", "GraftReport", "GraftTraining", "GraftEnsemble", "GraftStudy", "GraftSupport",
                "GraftExport",
            ]),
        .executableTarget(
            name: "GraftCLI",
            dependencies: [
                "Graft",
                "GraftTensor", "GraftModels", "GraftWeights", "GraftZoo", "GraftData", "GraftOptim",
                "GraftCatalog", "GraftReport", "GraftTraining", "GraftEnsemble", "GraftStudy", "GraftSupport",
                "GraftExport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "graft-bench",
            dependencies: [
                "GraftTensor", "GraftNN", "GraftModels", "GraftWeights", "GraftData", "GraftOptim", "GraftCatalog",
                "GraftTraining", "GraftEnsemble", "GraftExport",
            ], path: "benchmarks/Harness"),

        .target(name: "TestSupport", dependencies: ["GraftTensor", "GraftNN", "GraftData"]),
        // The catalog's stress workload, a separate process for the multi-process catalog tests.
        .executableTarget(name: "graft-catalog-stress", dependencies: ["GraftCatalog"], path: "Tests/CatalogStress"),
        .testTarget(name: "GraftTensorTests", dependencies: ["GraftTensor", "TestSupport"]),
        .testTarget(name: "GraftNNTests", dependencies: ["GraftNN", "GraftTensor", "TestSupport"]),
        .testTarget(
            name: "GraftModelsTests",
            dependencies: [
                "GraftModels", "GraftNN", "GraftTensor", "GraftWeights", "TestSupport",
            ]),
        .testTarget(
            name: "GraftWeightsTests",
            dependencies: [
                "GraftWeights", "GraftNN", "GraftTensor", "GraftSupport", "TestSupport",
            ]),
        .testTarget(
            name: "GraftZooTests",
            dependencies: [
                "GraftZoo", "GraftModels", "GraftNN", "GraftTensor", "GraftWeights", "GraftSupport", "TestSupport",
            ]),
        .testTarget(
            name: "GraftDataTests",
            dependencies: [
                "GraftData", "GraftTensor", "GraftSupport", "CJPEG", "TestSupport",
            ]),
        .testTarget(
            name: "GraftOptimTests",
            dependencies: [
                "GraftOptim", "GraftModels", "GraftNN", "GraftTensor", "GraftWeights", "TestSupport",
            ]),
        .testTarget(name: "GraftSupportTests", dependencies: ["GraftSupport", "TestSupport"]),
        .testTarget(
            name: "GraftCatalogTests",
            dependencies: [
                "GraftCatalog", "GraftReport", "GraftSupport", "TestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]),
        .testTarget(name: "GraftReportTests", dependencies: ["GraftReport", "GraftCatalog", "TestSupport"]),
        .testTarget(
            name: "GraftTrainingTests",
            dependencies: [
                "GraftTraining", "GraftCatalog", "GraftData", "GraftModels", "GraftNN", "GraftOptim",
                "GraftReport", "GraftSupport", "GraftTensor", "GraftWeights", "GraftZoo", "TestSupport",
            ]),
        .testTarget(
            name: "GraftStudyTests",
            dependencies: [
                "GraftStudy", "GraftTraining", "GraftCatalog", "GraftData", "GraftOptim", "GraftReport", "TestSupport",
            ]),
        // The documented API, through `import Graft` alone: the README's snippets compile and run here.
        .testTarget(name: "GraftAPITests", dependencies: ["Graft"]),
        .testTarget(
            name: "GraftExportTests",
            dependencies: [
                "GraftExport", "GraftZoo", "GraftModels", "GraftNN", "GraftTensor", "GraftWeights", "GraftSupport",
                "GraftCatalog", "TestSupport",
            ]),
        .testTarget(
            name: "GraftEnsembleTests",
            dependencies: [
                "GraftEnsemble", "GraftTraining", "GraftCatalog", "GraftData", "GraftModels", "GraftNN",
                "GraftOptim", "GraftTensor", "GraftWeights", "TestSupport",
            ]),
    ]
)

// oneDNN convolutions (libdnnl-dev), behind a small C layer; only GraftTensor uses it. Left out of
// a build with GRAFT_DNNL=0, so that nothing includes or links oneDNN.
if withOneDNN {
    package.targets.append(
        .target(name: "CDNNL", dependencies: ["CGraftKernels"], linkerSettings: [.linkedLibrary("dnnl")]))
}

// Fuzz targets (scripts/fuzz.sh, `make fuzz`). Built with -DFUZZING and the fuzzer sanitizer each
// is a libFuzzer binary; a normal build gives a replay tool that runs files through the same code.
package.targets += [
    .target(name: "FuzzSupport", dependencies: ["GraftTensor"], path: "Fuzz/FuzzSupport"),
    .executableTarget(name: "FuzzPth", dependencies: ["GraftWeights", "FuzzSupport"], path: "Fuzz/FuzzPth"),
    .executableTarget(
        name: "FuzzSafetensors", dependencies: ["GraftWeights", "FuzzSupport"], path: "Fuzz/FuzzSafetensors"),
    .executableTarget(name: "FuzzHDF5", dependencies: ["GraftWeights", "FuzzSupport"], path: "Fuzz/FuzzHDF5"),
    .executableTarget(name: "FuzzJPEG", dependencies: ["GraftData", "FuzzSupport"], path: "Fuzz/FuzzJPEG"),
    .executableTarget(name: "FuzzPNG", dependencies: ["GraftData", "FuzzSupport"], path: "Fuzz/FuzzPNG"),
]
