import ArgumentParser
import Foundation
import SmartCrop
import SmartCropServer

/// `smartcrop-server`: what `smartcrop serve` runs (it execs this binary with its options).
@main
struct ServerMain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "smartcrop-server",
        abstract: "The smartcrop HTTP service; normally started as `smartcrop serve`.",
        version: "smartcrop-server \(smartcropVersion)\n\(KernelReport.current.summary)"
    )

    @OptionGroup var options: ServeOptions

    func run() async throws {
        var configuration: ServerConfiguration
        do {
            configuration = try ServerConfiguration.load(file: options.config)
            if let host = options.host { try configuration.set("host", text: host) }
            if let port = options.port { try configuration.set("port", text: String(port)) }
            if let workers = options.workers { try configuration.set("workers", text: String(workers)) }
            if let faceModel = options.faceModel { try configuration.set("face_model", text: faceModel) }
            if let subjectModel = options.subjectModel { try configuration.set("subject_model", text: subjectModel) }
            if let subjectSize = options.subjectSize { try configuration.set("subject_size", text: String(subjectSize)) }
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
        if options.printConfig {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(configuration.effectiveSettings), as: UTF8.self))
            return
        }
        try await SmartCropServer.serve(configuration: configuration)
    }
}
