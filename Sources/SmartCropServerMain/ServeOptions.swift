import ArgumentParser

/// The options of `smartcrop serve`, which passes them on to `smartcrop-server` unchanged.
/// The CLI keeps its own copy (Sources/SmartCropCLI/ServeCommand.swift) so that `smartcrop`
/// does not link the server; a test checks that both accept the same options.
struct ServeOptions: ParsableArguments {
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
}
