import Foundation
import Testing
@testable import SmartCrop
@_spi(Benchmark) import Saliency

/// The subject model in the product: loaded and checked once, used by `--mode subject` and
/// `auto`, and reported as the decision's subject source.
@Suite struct SubjectModelTests {
    /// U-2-Netp lives beside the repository (../shared/models), or where SMARTCROP_SUBJECT_MODEL says.
    static var modelPath: String {
        if let path = ProcessInfo.processInfo.environment["SMARTCROP_SUBJECT_MODEL"], !path.isEmpty, path != "none" { return path }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("../shared/models/u2netp.onnx").standardizedFileURL.path
    }

    static var hasModel: Bool { FileManager.default.fileExists(atPath: modelPath) }

    /// A red disc on a plain grey wall, near the right edge of a 2:1 photo.
    let disc = PixelRect(x: 440, y: 90, width: 120, height: 120)
    func scene() throws -> Data {
        var pixels = [UInt8](repeating: 0, count: 600 * 300 * 3)
        for y in 0..<300 {
            for x in 0..<600 {
                let dx = Double(x - 500), dy = Double(y - 150)
                let inside = dx * dx + dy * dy <= 60 * 60
                let colour: [UInt8] = inside ? [210, 40, 35] : [150 + UInt8(y / 20), 150 + UInt8(y / 20), 145]
                for c in 0..<3 { pixels[(y * 600 + x) * 3 + c] = colour[c] }
            }
        }
        return try Synthetic.encode(try Image.fromPixels(pixels, width: 600, height: 300, bands: 3), ".png")
    }

    func crop(_ mode: CropMode, models: SubjectModels, explain: Bool = false) throws -> PipelineOutput {
        var options = PipelineOptions()
        options.subjectModels = models
        options.explain = explain
        return try PipelineRunner.run(Pipeline([.smartCrop(SmartCropSettings(width: 200, height: 200, mode: mode))]),
                                      on: .data(try scene()), options: options)
    }

    @Test(.enabled(if: hasModel, "needs u2netp.onnx (SMARTCROP_SUBJECT_MODEL or ../shared/models/)"))
    func subjectModeFollowsTheModelsMask() throws {
        let models = try SubjectModels(modelPath: Self.modelPath)
        #expect(models.source == "model")
        #expect(models.inputSize == 224)
        for mode in [CropMode.subject, .auto] {
            let out = try crop(mode, models: models, explain: true)
            let decision = try #require(out.decision)
            #expect(decision.subjectSource == .model, "\(mode)")
            #expect(decision.crop.contains(disc), "\(mode): crop \(decision.crop) should hold the disc \(disc)")
            // The heat picture: the analysed photo (shrunk on load) with the mask over it.
            let picture = try #require(out.explanation)
            #expect(picture.width == 2 * picture.height && picture.width >= 200, "\(mode): \(picture.width)x\(picture.height)")
        }
    }

    /// The fixed 1x3x320x320 export with folded shape subgraphs that `make test` makes from the
    /// free-size model (tools/fixtures/fixed_u2netp.py), the worst case of a downloaded file.
    static var fixedModelPath: String {
        let assets = ProcessInfo.processInfo.environment["SMARTCROP_ASSETS"]
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent(".assets").path
        return assets + "/fixtures/u2netp-fixed320.onnx"
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: fixedModelPath),
                   "needs the fixed-320 fixture that make test makes from ../shared/models/u2netp.onnx"))
    func aFixedSizeExportRunsAtItsSizeAndMasksAsTheFreeSizeModelDoes() throws {
        let fixed = try SubjectModels(modelPath: Self.fixedModelPath)   // asks for the default 224
        let model = try #require(try fixed.model())
        #expect(model.inputSize == 320 && model.hasFixedInputSize)
        #expect(model.ignoredInputSize == 224)
        #expect(fixed.notes.isEmpty, "the default size was not asked for: no warning")
        let free = try #require(try SubjectModels(modelPath: Self.modelPath, inputSize: 320).model())
        #expect(!free.hasFixedInputSize)
        // The same stretched scene through both: the masks agree to float rounding. The two files
        // may run in different precisions (a calibration table belongs to one file), so the free
        // model runs in the fixed one's.
        var rgb = [UInt8](repeating: 0, count: 320 * 320 * 3)
        for y in 0..<320 {
            for x in 0..<320 where (x - 230) * (x - 230) + (y - 160) * (y - 160) <= 60 * 60 {
                rgb[(y * 320 + x) * 3] = 210
            }
        }
        let freeBytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.modelPath)))
        let a = try model.mask(squareRGB: rgb)
        let b = try #require(try SubjectModel.masks(model: freeBytes, name: "u2netp.onnx", inputSize: 320, squareRGBs: [rgb],
                                                    int8: model.precision == "int8").first)
        let difference = zip(a, b).map { abs($0 - $1) }.max() ?? 1
        #expect(difference < 1e-4, "max difference \(difference)")
        #expect((a.max() ?? 0) > 0.5, "the mask marks the disc")
        // Asked for explicitly, another size is ignored with a warning that says so.
        let asked = try SubjectModels(modelPath: Self.fixedModelPath, inputSize: 256)
        #expect(try asked.model()?.inputSize == 320)
        #expect(asked.notes.count == 1 && asked.notes[0].contains("takes only 320x320"), "\(asked.notes)")
    }

    @Test func withoutAModelTheHeuristicMapIsUsedAndSaysSo() throws {
        let out = try crop(.subject, models: .heuristic)
        #expect(out.decision?.subjectSource == .heuristic)
        #expect(SubjectModels.heuristic.source == "heuristic")
        // A fixed rule needs no subject map, and says nothing about one.
        #expect(try crop(.center, models: .heuristic).decision?.subjectSource == nil)
    }

    @Test func aFileThatIsNotUNetIsRefusedAtLoadByName() throws {
        let pnet = TestAssetsPath.mtcnn("pnet.onnx")
        try #require(FileManager.default.fileExists(atPath: pnet), "needs .assets/models/mtcnn/pnet.onnx (run `make models`)")
        #expect { try SubjectModels(modelPath: pnet) } throws: { error in
            guard case let SmartCropError.invalidArgument(field, message) = error else { return false }
            return field == "subject_model" && message.contains(pnet) && message.contains("U-2-Net") && message.contains("rembg")
        }
        #expect { try SubjectModels(modelPath: "/nonexistent/u2netp.onnx") } throws: { "\($0)".contains("/nonexistent/u2netp.onnx") }
    }

    @Test(.enabled(if: hasModel, "needs u2netp.onnx (SMARTCROP_SUBJECT_MODEL or ../shared/models/)"))
    func inputSizesMustBeMultiplesOf32() throws {
        #expect { try SubjectModels(modelPath: Self.modelPath, inputSize: 200) } throws: { error in
            guard case let SmartCropError.invalidArgument(field, _) = error else { return false }
            return field == "subject_size"
        }
        #expect(try SubjectModels(modelPath: Self.modelPath, inputSize: 160).inputSize == 160)
    }
}

/// Where `make models` unpacks the MTCNN files (SMARTCROP_ASSETS or the repository's .assets).
enum TestAssetsPath {
    static func mtcnn(_ name: String) -> String {
        let assets = ProcessInfo.processInfo.environment["SMARTCROP_ASSETS"].flatMap { $0.isEmpty ? nil : $0 }
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent(".assets").path
        return assets + "/models/mtcnn/" + name
    }
}
