// swift-tools-version:6.0
import PackageDescription

// Inference's kernels are the hot loops of the product; keep them optimised even in debug
// builds so `swift test` exercises real models in seconds, not minutes.
let optimisedSwift: [SwiftSetting] = [
    .unsafeFlags(["-O", "-enforce-exclusivity=unchecked"]),
]

// Inference's SIMD8 kernels need AVX2 and FMA to be fast: without FMA, `addingProduct`
// becomes a libm call per lane, and without AVX2 every SIMD8 op is split in two. `-target-cpu`
// is what changes Swift's own code generation (`-Xcc -mavx2` only reaches C headers). "haswell"
// is the x86-64-v3 feature set (AVX2, FMA, BMI1/2, F16C), present on every AVX2 server CPU
// including the AMD EPYC machines this runs on; a CPU without AVX2 would fault with SIGILL.
// INFERENCE_FMA tells the kernels that fused multiply-add is a single instruction.
#if arch(x86_64)
let vectorISA: [SwiftSetting] = [
    .unsafeFlags(["-target-cpu", "haswell"]),
    .define("INFERENCE_FMA"),
]
#else
let vectorISA: [SwiftSetting] = []
#endif

let package = Package(
    name: "smartcrop",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SmartCrop", targets: ["SmartCrop"]),
        .library(name: "Inference", targets: ["Inference"]),
        .library(name: "FaceDetection", targets: ["FaceDetection"]),
        .library(name: "Saliency", targets: ["Saliency"]),
        .executable(name: "smartcrop", targets: ["SmartCropCLI"]),
        .executable(name: "smartcrop-server", targets: ["SmartCropServerMain"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // The HTTP service (SmartCropServer).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/vapor/multipart-kit", from: "4.7.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(name: "CVips", pkgConfig: "vips", providers: [.apt(["libvips-dev"])]),
        .target(name: "CVipsShim", dependencies: ["CVips"], linkerSettings: [.linkedLibrary("gmodule-2.0")]),
        // The ONNX runtime every network runs on (face detectors, the subject model): tensors,
        // model reading, graph compilation and kernels, with no I/O.
        .target(name: "Inference", swiftSettings: optimisedSwift + vectorISA),
        .target(name: "FaceDetection", dependencies: ["Inference"], swiftSettings: optimisedSwift + vectorISA),
        .target(name: "Saliency", dependencies: ["Inference"], swiftSettings: optimisedSwift),
        // MTCNN weights embedded at build time (#embed) from the files `make models` unpacks.
        .target(name: "CEmbeddedModels", cSettings: [.unsafeFlags(["-std=c23"])]),
        .target(name: "SmartCrop", dependencies: ["CVips", "CVipsShim", "CEmbeddedModels", "FaceDetection", "Saliency"]),
        .executableTarget(
            name: "SmartCropCLI",
            dependencies: [
                "SmartCrop",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // `smartcrop serve` execs this binary from the same folder: linking the server (NIO,
        // Foundation) into `smartcrop` itself made every one-shot crop start slower and bigger.
        .executableTarget(
            name: "SmartCropServerMain",
            dependencies: ["SmartCropServer", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // The HTTP service behind `smartcrop serve`; its page and OpenAPI document are compiled in by CServerAssets.
        .target(
            name: "SmartCropServer",
            dependencies: [
                "SmartCrop",
                "CServerAssets",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "MultipartKit", package: "multipart-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .target(name: "CServerAssets", exclude: ["playground.html", "openapi.json"], cSettings: [.unsafeFlags(["-std=c23"])]),
        // `make loadtest`: the load test's pipeline run in-process, the reference the server is measured against.
        .executableTarget(name: "LoadBench", dependencies: ["SmartCrop"]),
        .executableTarget(name: "SaliencyBench", dependencies: ["Saliency"], swiftSettings: optimisedSwift),
        .executableTarget(name: "FaceBench", dependencies: ["FaceDetection", "Saliency"], swiftSettings: optimisedSwift + vectorISA),
        // Hand-built ONNX models and the parity criterion, shared by the runtime's test targets.
        .target(name: "OnnxTestSupport", dependencies: ["Inference"], path: "Tests/OnnxTestSupport"),
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "OnnxTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "FaceDetectionTests", dependencies: ["FaceDetection", "Inference", "OnnxTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "SaliencyTests", dependencies: ["Saliency", "Inference", "OnnxTestSupport"]),
        .testTarget(name: "SmartCropTests", dependencies: ["SmartCrop", "CVips", "CVipsShim"]),
        .testTarget(name: "CLITests", dependencies: ["SmartCropCLI"]),
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "SmartCropServer", "SmartCrop",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["browser"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
