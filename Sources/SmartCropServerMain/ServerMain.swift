import ArgumentParser
import Dispatch
import Foundation
import SmartCrop
import SmartCropServer

/// `smartcrop-server`: what `smartcrop serve` runs (it execs this binary with its options), and
/// what `smartcrop models fetch` runs (`smartcrop-server fetch-models`): both need the network
/// libraries that `smartcrop` leaves out.
@main
struct ServerMain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "smartcrop-server",
        abstract: "The smartcrop HTTP service; normally started as `smartcrop serve`.",
        version: "smartcrop-server \(smartcropVersion)\n\(KernelReport.current.summary)",
        subcommands: [Serve.self, FetchModels.self],
        defaultSubcommand: Serve.self
    )

    /// Runs `body` on the concurrency runtime's threads until it returns. The commands are
    /// synchronous on purpose: process settings (`applyProcessSettings`) must be in place before
    /// the concurrency runtime starts its threads, and an async entry point has several of them
    /// running before its first line.
    static func runBlocking(_ body: @escaping @Sendable () async throws -> Void) throws {
        nonisolated(unsafe) var failure: (any Error)?
        let done = DispatchSemaphore(value: 0)
        Task {
            do { try await body() } catch { failure = error }
            done.signal()
        }
        done.wait()
        if let failure { throw failure }
    }
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HTTP service (the default).")

    @OptionGroup var options: ServeOptions

    func run() throws {
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
        let notes = SmartCropServer.applyProcessSettings(configuration)
        let serving = configuration
        try ServerMain.runBlocking { try await SmartCropServer.serve(configuration: serving, startupNotes: notes) }
    }
}
