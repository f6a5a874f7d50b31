// swift-tools-version:6.0
import PackageDescription

// Inference's kernels are the hot loops of the product; keep them optimised even in debug
// builds so `swift test` exercises real models in seconds, not minutes.
let optimisedSwift: [SwiftSetting] = [
    .unsafeFlags(["-O", "-enforce-exclusivity=unchecked"]),
]

// The inference kernels (Sources/InferenceKernels) are compiled three times, once per
// instruction set, and the runtime picks a copy at run time from what the CPU reports
// (Inference/Runtime/KernelSelection.swift). Swift has no per-function target attribute, and
// `-target-cpu` is what changes Swift's own code generation (`-Xcc -mavx2` only reaches C
// headers), so each copy is its own target over the same files: InferenceKernels<ISA>/Kernels
// is a symlink to Sources/InferenceKernels. Keeping the kernels in Swift (rather than a C target
// with `target` attributes) keeps one source for every path; the defines select the few
// kernels written per vector width. Everything else (the runtime, detectors, the product) is
// compiled for the default target, so the binary starts on any x86-64 and arm64 CPU.
// INFERENCE_FMA tells the kernels that fused multiply-add is one instruction: without it,
// `addingProduct` becomes a libm call per lane.
#if arch(x86_64)
let kernelISAs: [(name: String, settings: [SwiftSetting])] = [
    // AVX-512 F/BW/DQ/VL (Intel since Skylake-SP, AMD since Zen 4).
    ("AVX512", [.unsafeFlags(["-target-cpu", "skylake-avx512"]), .define("INFERENCE_FMA"), .define("INFERENCE_AVX512")]),
    // x86-64-v3: AVX2, FMA, BMI1/2, F16C (every AVX2 server CPU).
    ("AVX2", [.unsafeFlags(["-target-cpu", "haswell"]), .define("INFERENCE_FMA"), .define("INFERENCE_AVX2")]),
    // x86-64-v2: SSE4.2, SSSE3, POPCNT; "nehalem" is that level (this LLVM has no x86-64-v2 name).
    ("Baseline", [.unsafeFlags(["-target-cpu", "nehalem"])]),
]
#else
// arm64: NEON is part of the baseline and has fused multiply-add.
let kernelISAs: [(name: String, settings: [SwiftSetting])] = [
    ("AVX512", [.define("INFERENCE_AVX512")]),
    ("AVX2", [.define("INFERENCE_AVX2")]),
    ("Baseline", [.define("INFERENCE_FMA")]),
]
#endif
let kernelTargets: [Target] = kernelISAs.map { isa in
    .target(name: "InferenceKernels\(isa.name)", dependencies: ["KernelInterface", "CInt8Kernels", "CInt8KernelsVNNI", "CInt8KernelsAVXVNNI"],
            swiftSettings: optimisedSwift + isa.settings)
}

// The int8 convolution is C with intrinsics because Swift has no VNNI intrinsics: vpdpbusd (u8 ×
// s8 products summed four at a time into int32 lanes) has no SIMD-type spelling Swift lowers to
// it, whatever -target-cpu says, neither in AVX-512 VNNI's EVEX form nor in AVX-VNNI's VEX one.
// CInt8KernelsVNNI alone is compiled for AVX-512 VNNI, CInt8KernelsAVXVNNI alone for AVX-VNNI
// (256-bit, for AVX2 CPUs without AVX-512: Alder Lake and later clients, Sierra Forest), and
// each is called only when cpuid reports its extension (Inference/Runtime/PrecisionSelection.swift);
// CInt8Kernels is the portable reference of the same arithmetic, compiled for the default target.
#if arch(x86_64)
let vnniFlags: [CSetting] = [.unsafeFlags(["-O3", "-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mavx512vnni", "-mfma"])]
// No AVX-512 flag: the compiler must not reach for an EVEX instruction the CPUs this target is
// for fault on (scripts/portability-check.sh disassembles it to check).
let avxVNNIFlags: [CSetting] = [.unsafeFlags(["-O3", "-mavx2", "-mfma", "-mavxvnni"])]
// The test-only copy of the AVX-VNNI kernels with AVX-512 VNNI's 256-bit vpdpbusd, and the SIGILL
// handler that runs the real ones' vpdpbusd on CPUs without AVX-VNNI (see its headers).
let avxVNNICheckFlags: [CSetting] = [.unsafeFlags(["-O3", "-mavx2", "-mfma", "-mavx512f", "-mavx512vl", "-mavx512vnni"]),
                                     .define("SMARTCROP_INT8_AVXVNNI_AS_EVEX")]
#else
let vnniFlags: [CSetting] = []
let avxVNNIFlags: [CSetting] = []
let avxVNNICheckFlags: [CSetting] = [.define("SMARTCROP_INT8_AVXVNNI_AS_EVEX")]
#endif
let int8Targets: [Target] = [
    .target(name: "CInt8Kernels", cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off"])]),
    .target(name: "CInt8KernelsVNNI", dependencies: ["CInt8Kernels"], cSettings: vnniFlags),
    .target(name: "CInt8KernelsAVXVNNI", dependencies: ["CInt8Kernels"], cSettings: avxVNNIFlags),
    // int8_avxvnni.c is a symlink to CInt8KernelsAVXVNNI's.
    .target(name: "CInt8KernelsAVXVNNICheck", dependencies: ["CInt8Kernels"],
            path: "Tests/CInt8KernelsAVXVNNICheck", cSettings: avxVNNICheckFlags),
]
let kernelDependencies: [Target.Dependency] = kernelISAs.map { .target(name: "InferenceKernels\($0.name)") }

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
        // HMAC-SHA256 for signed GET URLs, SHA-256 for model files and calibration tables' keys.
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        .systemLibrary(name: "CVips", pkgConfig: "vips", providers: [.apt(["libvips-dev"])]),
        .target(name: "CVipsShim", dependencies: ["CVips"], linkerSettings: [.linkedLibrary("gmodule-2.0")]),
        // The ONNX runtime every network runs on (face detectors, the subject model): tensors,
        // model reading, graph compilation and kernels, with no I/O.
        // What the runtime and the kernels share: layouts, packed weights, geometry, plan steps.
        .target(name: "KernelInterface", dependencies: ["CInt8Kernels"], swiftSettings: optimisedSwift),
        // cpuid and xgetbv, which Swift cannot execute.
        .target(name: "CCPUFeatures"),
        // Crypto only for the sha256 that keys a model's calibration table.
        .target(name: "Inference", dependencies: ["KernelInterface", "CCPUFeatures", .product(name: "Crypto", package: "swift-crypto")]
                    + kernelDependencies,
                exclude: ["Calibration/json"], swiftSettings: optimisedSwift),
        .target(name: "FaceDetection", dependencies: ["Inference"], swiftSettings: optimisedSwift),
        .target(name: "Saliency", dependencies: ["Inference"], swiftSettings: optimisedSwift),
        // MTCNN weights embedded at build time (#embed) from the files `make models` unpacks.
        .target(name: "CEmbeddedModels", cSettings: [.unsafeFlags(["-std=c23"])]),
        // Signed GET URLs: what the server checks and `smartcrop sign` writes.
        .target(name: "URLSigning", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        // Crypto: the sha256 of a model file found by default, checked against the pinned list.
        .target(name: "SmartCrop", dependencies: ["CVips", "CVipsShim", "CEmbeddedModels", "Inference", "FaceDetection", "Saliency",
                                                  .product(name: "Crypto", package: "swift-crypto")]),
        .executableTarget(
            name: "SmartCropCLI",
            dependencies: [
                "SmartCrop",
                "URLSigning",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // `smartcrop serve` execs this binary from the same folder: linking the server (NIO,
        // Foundation) into `smartcrop` itself made every one-shot crop start slower and bigger.
        // It also runs `smartcrop models fetch`, which needs an HTTP client.
        .executableTarget(
            name: "SmartCropServerMain",
            dependencies: ["SmartCrop", "SmartCropServer", "ModelFetch", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // Setup's and `smartcrop models fetch`'s download of the pinned model files.
        .target(name: "ModelFetch", dependencies: ["SmartCrop", .product(name: "AsyncHTTPClient", package: "async-http-client")]),
        // The HTTP service behind `smartcrop serve`; its page and OpenAPI document are compiled in by CServerAssets.
        .target(
            name: "SmartCropServer",
            dependencies: [
                "SmartCrop",
                "URLSigning",
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
        .executableTarget(name: "FaceBench", dependencies: ["Inference", "FaceDetection", "Saliency"], swiftSettings: optimisedSwift),
        // Hand-built ONNX models and the parity criterion, shared by the runtime's test targets.
        .target(name: "OnnxTestSupport", dependencies: ["Inference"], path: "Tests/OnnxTestSupport"),
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "OnnxTestSupport", "CInt8KernelsAVXVNNICheck"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "FaceDetectionTests", dependencies: ["FaceDetection", "Inference", "OnnxTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "SaliencyTests", dependencies: ["Saliency", "Inference", "OnnxTestSupport"]),
        // Animated GIFs written byte by byte, for the tests of every front-end.
        .target(name: "GIFTestSupport", path: "Tests/GIFTestSupport"),
        .testTarget(name: "SmartCropTests", dependencies: ["SmartCrop", "CVips", "CVipsShim", "GIFTestSupport", "OnnxTestSupport",
                                                      "FaceDetection", "Inference", "Saliency"]),
        .testTarget(name: "CLITests", dependencies: ["SmartCropCLI", "GIFTestSupport"]),
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "SmartCropServer", "SmartCrop", "URLSigning", "ModelFetch", "GIFTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["browser"]
        ),
    ] + kernelTargets + int8Targets,
    swiftLanguageModes: [.v6]
)
