import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SmartCrop

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a pipeline file (a JSON list of operations) on an image."
    )

    @Argument(help: "The pipeline: [{\"type\": \"smart_crop\", ...}, ...] or {\"operations\": [...]}.")
    var pipeline: String

    @Argument(help: "The image to process.")
    var input: String

    @Option(name: .shortAndLong, help: "Where to write the result.")
    var output: String

    @Flag(help: "Print the decision as JSON.")
    var json = false

    @Flag(help: "Write the first frame of an animated GIF or WebP as a still.")
    var noAnimation = false

    func run() throws {
        guard let data = FileManager.default.contents(atPath: pipeline) else {
            throw CLIError(message: "cannot read the pipeline file \(pipeline)")
        }
        var parsed = try Pipeline.parse(data)
        let hasConvert = parsed.operations.contains { if case .convert = $0 { return true } else { return false } }
        if !hasConvert, let format = try outputFormat(explicit: nil, path: output) {
            parsed.operations.append(.convert(ConvertOperation(format: format)))
        }
        if noAnimation, case .convert(var convert)? = parsed.operations.last {
            convert.animated = false
            parsed.operations[parsed.operations.count - 1] = .convert(convert)
        }
        let result = try PipelineRunner.run(parsed, on: .file(input))
        warnAboutModels(face: try? FaceModels.environmentDefault(),
                        subject: parsed.looksAtSubject ? try? SubjectModels.environmentDefault() : nil)
        try writeAtomically(result.data, to: output)
        if json {
            try printJSON(CropReport(result, path: output))
        } else {
            print("wrote \(output): \(result.width)x\(result.height) \(result.format.rawValue), \(result.data.count) bytes")
        }
    }
}

struct JobCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job",
        abstract: "Run a crop job: {\"operation\": \"crop\", \"input\", \"output\", \"rect\" | \"gravity\", ...}."
    )

    @Argument(help: "The job file.")
    var job: String

    struct Answer: Encodable {
        let report: CropReport
        let dataBase64: String?
        func encode(to encoder: Encoder) throws {
            try report.encode(to: encoder)
            var container = encoder.container(keyedBy: Key.self)
            try container.encodeIfPresent(dataBase64, forKey: Key(stringValue: "data_base64"))
        }
        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
    }

    func run() throws {
        guard let data = FileManager.default.contents(atPath: job) else {
            throw CLIError(message: "cannot read the job file \(job)")
        }
        var parsed = try CropJob.parse(data)
        let hasConvert = parsed.pipeline.operations.contains { if case .convert = $0 { return true } else { return false } }
        if !hasConvert, let output = parsed.output, let format = try outputFormat(explicit: nil, path: output) {
            parsed.pipeline.operations.append(.convert(ConvertOperation(format: format)))
        }
        // A relative input or output is relative to the job file, so jobs can travel with their images.
        let base = URL(fileURLWithPath: job).deletingLastPathComponent()
        func resolve(_ path: String) -> String { path.hasPrefix("/") ? path : base.appendingPathComponent(path).path }
        let result = try PipelineRunner.run(parsed.pipeline, on: .file(resolve(parsed.input)))
        warnAboutModels(face: try? FaceModels.environmentDefault(),
                        subject: parsed.pipeline.looksAtSubject ? try? SubjectModels.environmentDefault() : nil)
        if let output = parsed.output {
            try writeAtomically(result.data, to: resolve(output))
        }
        try printJSON(Answer(report: CropReport(result, path: parsed.output.map(resolve)),
                             dataBase64: parsed.inline ? result.data.base64EncodedString() : nil))
    }
}
