import ArgumentParser
import Glibc
import SmartCrop

/// `smartcrop models`: which model runs for faces and for subjects, from which file, and
/// whether that file is a pinned one; `smartcrop models fetch` installs them.
struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "Show which face and subject models run, or install them (models fetch).",
        subcommands: [ModelsList.self, ModelsFetch.self],
        defaultSubcommand: ModelsList.self
    )
}

struct ModelsList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Show which face and subject models run (the default).",
        discussion: """
        Without an option or variable naming a file, the models are looked for in \
        $SMARTCROP_MODEL_DIR, then $XDG_DATA_HOME/smartcrop/models (~/.local/share/smartcrop/models), \
        then <binary dir>/../share/smartcrop/models, then .assets/models of a development checkout; \
        a file found there is used only if it is one of the pinned files.
        """
    )

    @Option(help: "YuNet model file, as for crop (\"none\": the embedded MTCNN).")
    var faceModel: String?

    @Option(help: "U-2-Netp model file, as for crop (\"none\": the heuristic subject map).")
    var subjectModel: String?

    @Option(help: "The subject model's square input side, as for crop.")
    var subjectSize: Int?

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let face = try FaceModels(yunetModel: faceModel, givenBy: "--face-model")
        let subject = try SubjectModels(modelPath: subjectModel, inputSize: subjectSize, loadNow: false, givenBy: "--subject-model")
        let reports = ModelReport.describe(face: face, subject: subject)
        if json {
            try printJSON(reports)
        } else {
            print(reports.map(\.text).joined(separator: "\n"))
        }
    }
}

/// Runs in `smartcrop-server`, which links the HTTP client that `smartcrop` leaves out.
struct ModelsFetch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Download the pinned YuNet and U-2-Netp files, verify their sha256 and install them.",
        discussion: "For binaries installed without make (make build, demo and install fetch them into .assets/models)."
    )

    @Option(help: "Where to get them: a base URL (https://mirror/models/) or a folder; default the publishers' URLs.")
    var from: String?

    @Option(help: "Where to install them; default the user data folder ($XDG_DATA_HOME/smartcrop/models).")
    var dir: String?

    @Option(help: "Only this slot: face or subject.")
    var slot: String?

    func run() throws {
        var arguments = ["fetch-models"]
        if let from { arguments += ["--from", from] }
        if let dir { arguments += ["--dir", dir] }
        if let slot { arguments += ["--slot", slot] }
        try ServeCommand.exec(arguments)
    }
}
