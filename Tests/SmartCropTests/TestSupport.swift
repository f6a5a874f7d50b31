import Foundation
@testable import SmartCrop

/// Synthetic test images, made with libvips from pixels the tests describe.
enum Synthetic {
    struct Box {
        var rect: PixelRect
        var colour: (UInt8, UInt8, UInt8)
    }

    /// A flat `background` canvas with solid boxes painted on it, RGB.
    static func image(width: Int, height: Int, background: (UInt8, UInt8, UInt8) = (40, 40, 40), boxes: [Box] = []) throws -> Image {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            pixels[3 * i] = background.0; pixels[3 * i + 1] = background.1; pixels[3 * i + 2] = background.2
        }
        for box in boxes {
            for y in max(box.rect.y, 0)..<min(box.rect.maxY, height) {
                for x in max(box.rect.x, 0)..<min(box.rect.maxX, width) {
                    let i = 3 * (y * width + x)
                    pixels[i] = box.colour.0; pixels[i + 1] = box.colour.1; pixels[i + 2] = box.colour.2
                }
            }
        }
        return try Image.fromPixels(pixels, width: width, height: height, bands: 3)
    }

    /// Deterministic noise texture, so attention has detail to look at everywhere.
    static func texture(width: Int, height: Int, amplitude: Int = 30, base: Int = 90) throws -> [UInt8] {
        var state: UInt32 = 12345
        return (0..<(width * height * 3)).map { _ in
            state = state &* 1_664_525 &+ 1_013_904_223
            return UInt8(clamping: base + Int(state >> 24) % (2 * amplitude + 1) - amplitude)
        }
    }

    static func encode(_ image: Image, _ suffix: String) throws -> Data {
        try image.written(suffix: suffix)
    }
}

/// Temporary files that go away with the test.
final class TemporaryDirectory {
    let url: URL

    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("smartcrop-tests-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func write(_ data: Data, named name: String) -> String {
        let path = url.appendingPathComponent(name).path
        FileManager.default.createFile(atPath: path, contents: data)
        return path
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

/// Sample photos unpacked by `make samples` from scikit-image's wheel (git-ignored).
enum Samples {
    static var directory: URL {
        if let assets = ProcessInfo.processInfo.environment["SMARTCROP_ASSETS"] {
            return URL(fileURLWithPath: assets).appendingPathComponent("samples")
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".assets/samples")
    }

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
    static func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: path(name)) }
}

extension Data {
    func pixels(_ expected: ImageFormat? = nil) throws -> (Image, SourceInfo) {
        let source = try OpenedSource(.data(self))
        return (try source.decode(scale: 1), source.info)
    }
}

func run(_ operations: [ImageOperation], on data: Data) throws -> PipelineOutput {
    try PipelineRunner.run(Pipeline(operations), on: .data(data))
}

/// Mean RGB of a region of an image.
func meanColour(_ image: Image, _ rect: PixelRect) throws -> (Double, Double, Double) {
    let bytes = try image.cropped(rect).rgbBytes()
    var sums = (0.0, 0.0, 0.0)
    for i in stride(from: 0, to: bytes.count, by: 3) {
        sums.0 += Double(bytes[i]); sums.1 += Double(bytes[i + 1]); sums.2 += Double(bytes[i + 2])
    }
    let n = Double(bytes.count / 3)
    return (sums.0 / n, sums.1 / n, sums.2 / n)
}
