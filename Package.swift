// swift-tools-version:6.0
import PackageDescription

// C libraries come from Debian packages (scripts/install-deps.sh). Only GraftTensor calls BLAS,
// only GraftWeights calls HDF5, only GraftData calls libjpeg.
let package = Package(
    name: "Graft",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "graft", targets: ["graft"]),
        .library(name: "Graft", targets: [
            "GraftTensor", "GraftNN", "GraftModels", "GraftWeights", "GraftData", "GraftOptim",
            "GraftCatalog", "GraftTraining", "GraftReport",
        ]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .target(name: "CJPEG", linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("z")]),

        // oneDNN convolutions (libdnnl-dev), behind a small C layer; only GraftTensor uses it.
        .target(name: "CDNNL", linkerSettings: [.linkedLibrary("dnnl")]),
        .target(name: "GraftSupport", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "GraftTensor", dependencies: ["CBLAS", "CDNNL"]),
        .target(name: "GraftNN", dependencies: ["GraftTensor"]),
        .target(name: "GraftModels", dependencies: ["GraftNN"]),
        .target(name: "GraftWeights", dependencies: ["GraftModels", "GraftSupport", "CHDF5"],
                resources: []),
        .target(name: "GraftData", dependencies: ["GraftTensor", "GraftSupport", "CJPEG"]),
        .target(name: "GraftOptim", dependencies: ["GraftNN"]),
        .target(name: "GraftCatalog", dependencies: ["GraftSupport", .product(name: "GRDB", package: "GRDB.swift")]),
        .target(name: "GraftReport"),
        .target(name: "GraftTraining", dependencies: [
            "GraftModels", "GraftWeights", "GraftData", "GraftOptim", "GraftCatalog", "GraftReport", "GraftSupport",
        ]),
        .executableTarget(name: "graft", dependencies: [
            "GraftTraining", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "graft-bench", dependencies: ["GraftTraining"],
                          path: "benchmarks/Harness"),

        .target(name: "TestSupport", dependencies: ["GraftTensor"]),
        .testTarget(name: "GraftTensorTests", dependencies: ["GraftTensor", "TestSupport"]),
        .testTarget(name: "GraftNNTests", dependencies: ["GraftNN", "TestSupport"]),
        .testTarget(name: "GraftModelsTests", dependencies: ["GraftModels", "GraftWeights", "TestSupport"]),
        .testTarget(name: "GraftWeightsTests", dependencies: ["GraftWeights", "GraftSupport", "TestSupport"]),
        .testTarget(name: "GraftDataTests", dependencies: ["GraftData", "GraftSupport", "TestSupport"]),
        .testTarget(name: "GraftOptimTests", dependencies: ["GraftOptim", "GraftModels", "GraftWeights", "TestSupport"]),
        .testTarget(name: "GraftSupportTests", dependencies: ["GraftSupport"]),
        .testTarget(name: "GraftCatalogTests", dependencies: ["GraftCatalog", "GraftSupport", "TestSupport"]),
        .testTarget(name: "GraftReportTests", dependencies: ["GraftReport", "TestSupport"]),
        .testTarget(name: "GraftTrainingTests", dependencies: ["GraftTraining", "GraftSupport", "TestSupport"]),
    ]
)

// Fuzz targets (scripts/fuzz.sh, `make fuzz`). Built with -DFUZZING and the fuzzer sanitizer each
// is a libFuzzer binary; a normal build gives a replay tool that runs files through the same code.
package.targets += [
    .target(name: "FuzzSupport", dependencies: ["GraftTensor"], path: "Fuzz/FuzzSupport"),
    .executableTarget(name: "FuzzPth", dependencies: ["GraftWeights", "FuzzSupport"], path: "Fuzz/FuzzPth"),
    .executableTarget(name: "FuzzSafetensors", dependencies: ["GraftWeights", "FuzzSupport"], path: "Fuzz/FuzzSafetensors"),
    .executableTarget(name: "FuzzHDF5", dependencies: ["GraftWeights", "FuzzSupport"], path: "Fuzz/FuzzHDF5"),
    .executableTarget(name: "FuzzJPEG", dependencies: ["GraftData", "FuzzSupport"], path: "Fuzz/FuzzJPEG"),
]
