import ArgumentParser
import SmartCropServer

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTP service (transform API, smart-crop tool, playground page).",
        discussion: """
        Settings come from the defaults, then the JSON file given with --config (or
        SMARTCROP_CONFIG), then SMARTCROP_* environment variables (SMARTCROP_API_KEYS=k1,k2,
        SMARTCROP_PORT=8080, ...), then these options. Without an API key the server listens
        on 127.0.0.1 only. SIGTERM or SIGINT stop it gracefully: it stops accepting and lets
        requests in flight finish.
        """
    )

    @Option(help: "JSON config file (see the README's configuration table).")
    var config: String?

    @Option(help: "Address to listen on (default 0.0.0.0; 127.0.0.1 without an API key).")
    var host: String?

    @Option(help: "Port to listen on (default 8080; 0 picks a free one).")
    var port: Int?

    @Option(help: "Image worker threads (default: one per core).")
    var workers: Int?

    @Option(help: "YuNet model file (face_detection_yunet_2023mar.onnx); default $SMARTCROP_FACE_MODEL, else the embedded MTCNN.")
    var faceModel: String?

    func run() async throws {
        var configuration: ServerConfiguration
        do {
            configuration = try ServerConfiguration.load(file: config)
            if let host { try configuration.set("host", text: host) }
            if let port { try configuration.set("port", text: String(port)) }
            if let workers { try configuration.set("workers", text: String(workers)) }
            if let faceModel { try configuration.set("face_model", text: faceModel) }
        } catch let error as ConfigurationError {
            throw CLIError(message: error.description)
        }
        try await SmartCropServer.serve(configuration: configuration)
    }
}
