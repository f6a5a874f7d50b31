import ArgumentParser
import Glibc
import SmartCrop

/// `smartcrop serve` replaces itself (exec) with `smartcrop-server` from the same folder. The
/// server links SwiftNIO, Hummingbird and Foundation; keeping them out of `smartcrop` keeps a
/// one-shot crop as quick and small as it was (see the README's Speed section).
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTP service (transform API, smart-crop tool, playground page).",
        discussion: """
        Settings come from the defaults, then the JSON file given with --config (or
        SMARTCROP_CONFIG), then SMARTCROP_* environment variables (SMARTCROP_API_KEYS=k1,k2,
        SMARTCROP_PORT=8080, ...), then these options. Without an API key the server listens
        on 127.0.0.1 only. SIGTERM or SIGINT stop it gracefully: it stops accepting and lets
        requests in flight finish. Runs the smartcrop-server binary installed next to smartcrop.
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

    @Option(help: "U-2-Netp subject model file (u2netp.onnx); default $SMARTCROP_SUBJECT_MODEL, else the heuristic subject map.")
    var subjectModel: String?

    @Option(help: "The subject model's square input side, a multiple of 32 (default $SMARTCROP_SUBJECT_SIZE, else 224).")
    var subjectSize: Int?

    @Flag(help: "Print the settings in effect (defaults, config file, environment, options) as JSON, secrets redacted, and exit.")
    var printConfig = false

    var serverArguments: [String] {
        var arguments: [String] = []
        if let config { arguments += ["--config", config] }
        if let host { arguments += ["--host", host] }
        if let port { arguments += ["--port", String(port)] }
        if let workers { arguments += ["--workers", String(workers)] }
        if let faceModel { arguments += ["--face-model", faceModel] }
        if let subjectModel { arguments += ["--subject-model", subjectModel] }
        if let subjectSize { arguments += ["--subject-size", String(subjectSize)] }
        if printConfig { arguments.append("--print-config") }
        return arguments
    }

    func run() throws {
        try Self.exec(serverArguments)
    }

    /// Replaces this process with smartcrop-server and `arguments`.
    static func exec(_ arguments: [String]) throws {
        let server = serverPath()
        guard access(server, X_OK) == 0 else {
            throw CLIError(message: "smartcrop-server is not installed next to smartcrop (looked for \(server)); `make build` builds both")
        }
        let argv = ([server] + arguments).map { strdup($0) } + [nil]
        execv(server, argv)
        throw CLIError(message: "cannot start \(server): \(String(cString: strerror(errno)))")
    }

    /// The folder of the running executable (not of argv[0], which may be a bare name on PATH).
    static func serverPath() -> String {
        let executable = ModelSearch.runningExecutable ?? CommandLine.arguments[0]
        let folder = executable.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        return (folder.isEmpty ? "." : folder) + "/smartcrop-server"
    }
}
