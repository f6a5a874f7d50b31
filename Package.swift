// swift-tools-version:6.0
import PackageDescription

// FaceDetection's kernels are the hot loops of the product; keep them optimised even in
// debug builds so `swift test` exercises real models in seconds, not minutes.
let optimisedSwift: [SwiftSetting] = [
    .unsafeFlags(["-O", "-enforce-exclusivity=unchecked"]),
]

let package = Package(
    name: "smartcrop",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "SmartCrop", targets: ["SmartCrop"]),
        .library(name: "FaceDetection", targets: ["FaceDetection"]),
        .library(name: "Saliency", targets: ["Saliency"]),
        .executable(name: "smartcrop", targets: ["SmartCropCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .systemLibrary(name: "CVips", pkgConfig: "vips", providers: [.apt(["libvips-dev"])]),
        .target(name: "CVipsShim", dependencies: ["CVips"]),
        .target(name: "FaceDetection", swiftSettings: optimisedSwift),
        .target(name: "Saliency", swiftSettings: optimisedSwift),
        .target(name: "SmartCrop", dependencies: ["CVips", "CVipsShim", "FaceDetection", "Saliency"]),
        .executableTarget(
            name: "SmartCropCLI",
            dependencies: [
                "SmartCrop",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "FaceBench", dependencies: ["FaceDetection"], swiftSettings: optimisedSwift),
        .testTarget(name: "FaceDetectionTests", dependencies: ["FaceDetection"]),
        .testTarget(name: "SaliencyTests", dependencies: ["Saliency"]),
        .testTarget(name: "SmartCropTests", dependencies: ["SmartCrop"]),
    ],
    swiftLanguageModes: [.v6]
)
