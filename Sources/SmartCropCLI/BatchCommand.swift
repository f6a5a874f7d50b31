import ArgumentParser
import Dispatch
import Glibc
import SmartCrop
import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

struct BatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch",
        abstract: "Crop every image in a folder to one or more sizes.",
        discussion: """
        Writes OUT_DIR/<name>-<w>x<h>.<ext> for each image and size, continues past files it
        cannot read, and ends with a summary: ok, failed, no face, images per second.

        Several machines split one folder without talking to each other: each runs with
        --shard I/N (I from 0 to N-1, e.g. a Kubernetes Indexed Job's JOB_COMPLETION_INDEX) and
        takes the files whose name hashes to I. --resume skips images whose outputs are all
        there already, so a run that was stopped picks up where it was.
        """
    )

    @Argument(help: "Folder of images (not searched recursively).")
    var inputDirectory: String

    @Argument(help: "Folder for the results (created if missing).")
    var outputDirectory: String

    @Option(help: "Output sizes: WxH[,WxH…], each optionally :format:qQUALITY:sSIGMA.", transform: OutputSpec.parseList)
    var sizes: [OutputSpec]

    @OptionGroup var choice: CropChoiceOptions

    @Option(help: "Output format when a size does not name one (default: webp).")
    var format: String = "webp"

    @Option(help: "Encoder quality, 1-100.")
    var quality: Int?

    @Option(help: "Sharpen results with this sigma.")
    var sharpen: Double?

    @Option(help: "Images processed at once (default: one per core).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Process only share I of N (I from 0 to N-1), chosen by a hash of each file's name.",
            transform: BatchShard.parse)
    var shard: BatchShard?

    @Flag(help: "Skip images whose outputs all exist and are complete images of the right size.")
    var resume = false

    @Option(help: "Write one JSON line per image (outputs, crop decision, or error) to this file.")
    var report: String?

    @OptionGroup var metadata: MetadataOptions

    func validate() throws {
        if jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if let quality, !(1...100).contains(quality) { throw ValidationError("--quality must be between 1 and 100") }
        _ = try outputFormat(explicit: format, path: nil)
    }

    private enum Outcome { case ok(face: Bool), skipped, failed(String) }

    func run() throws {
        let all = try FileManager.default.contentsOfDirectory(atPath: inputDirectory)
            .filter { !$0.hasPrefix(".") }.sorted()
            .filter { !FileSystemCheck.isDirectory(inputDirectory + "/" + $0) }
        guard !all.isEmpty else { throw CLIError(message: "no files in \(inputDirectory)") }
        let files = shard.map { shard in all.filter { shard.contains($0) } } ?? all
        try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
        let format = try outputFormat(explicit: format, path: nil)
        let pipelines = try sizes.map {
            ($0.name, try $0.pipeline(choice, format: format, quality: quality, sharpen: sharpen, metadata: metadata))
        }
        let options = try choice.pipelineOptions(explain: false)
        let outputFormats = sizes.map { $0.format ?? format ?? .webp }
        let reportFile = try report.map { try ReportFile(path: $0, appending: resume) }
        // Parallel images, each on one libvips thread, rather than parallel threads inside one image.
        try ImageEngine.setThreadsPerOperation(max(1, ProcessInfo.processInfo.activeProcessorCount / jobs))

        let progress = Progress(total: files.count, interactive: isatty(STDOUT_FILENO) != 0)
        let next = Atomic<Int>(0)
        let start = ContinuousClock.now
        let workers = min(jobs, files.count)
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while true {
                let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard index < files.count else { return }
                let name = files[index]
                let file = inputDirectory + "/" + name
                let stem = URL(fileURLWithPath: name).deletingPathExtension().lastPathComponent
                let expected = zip(sizes, outputFormats).map { size, format in
                    (path: "\(outputDirectory)/\(stem)-\(size.width)x\(size.height).\(format.fileExtension)", size: size, format: format)
                }
                if resume, expected.allSatisfy({ BatchOutputCheck.isComplete($0.path, width: $0.size.width, height: $0.size.height) }) {
                    reportFile?.append(BatchReportLine(input: name, status: "skipped", outputs: expected.map(\.path)))
                    progress.finished(file, outcome: .skipped)
                    continue
                }
                let outcome: Outcome
                do {
                    let source = try OpenedSource(.file(file), limits: options.limits)
                    let results = try PipelineRunner.variants(pipelines, on: source, options: options).map(\.1)
                    var paths: [String] = []
                    for result in results {
                        let path = "\(outputDirectory)/\(stem)-\(result.width)x\(result.height).\(result.format.fileExtension)"
                        try writeAtomically(result.data, to: path)
                        paths.append(path)
                    }
                    reportFile?.append(BatchReportLine(input: name, results: results, paths: paths))
                    outcome = .ok(face: results.first?.decision?.strategy == "face")
                } catch {
                    let message = (error as? SmartCropError)?.message ?? (error as? CLIError)?.message ?? "\(error)"
                    reportFile?.append(BatchReportLine(input: name, error: message))
                    outcome = .failed(message)
                }
                progress.finished(file, outcome: outcome)
            }
        }
        let seconds = max((ContinuousClock.now - start).secondsValue, 1e-9)
        // Scripts need to know that some files did not make it, after all the others did.
        warnAboutModels(face: options.faceModels, subject: options.subjectModels)
        if progress.summary(seconds: seconds).failed > 0 { throw ExitCode(1) }
    }

    /// The progress bar on a terminal, plain lines otherwise, and the counts for the summary.
    private final class Progress: @unchecked Sendable {
        let total: Int
        let interactive: Bool
        private let lock = Mutex<(done: Int, ok: Int, failed: Int, noFace: Int, skipped: Int)>((0, 0, 0, 0, 0))

        init(total: Int, interactive: Bool) {
            self.total = total
            self.interactive = interactive
        }

        func finished(_ file: String, outcome: Outcome) {
            lock.withLock { counts in
                counts.done += 1
                switch outcome {
                case .ok(let face):
                    counts.ok += 1
                    if !face { counts.noFace += 1 }
                    if !interactive { print("ok \(file)\(face ? "" : " (no face)")") }
                case .skipped:
                    counts.skipped += 1
                    if !interactive { print("skipped \(file) (outputs complete)") }
                case .failed(let message):
                    counts.failed += 1
                    if interactive { writeStandardError("\r\u{1B}[K") }
                    writeStandardError("failed \(file): \(message)\n")
                }
                if interactive {
                    let width = 30, filled = width * counts.done / total
                    let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
                    writeStandardOutput(Data("\r[\(bar)] \(counts.done)/\(total)".utf8))
                }
            }
        }

        @discardableResult
        func summary(seconds: Double) -> (done: Int, ok: Int, failed: Int, noFace: Int, skipped: Int) {
            let counts = lock.withLock { $0 }
            if interactive { print("") }
            let processed = counts.done - counts.skipped
            let rate = (Double(processed) / seconds * 10).rounded() / 10
            let skipped = counts.skipped > 0 ? ", \(counts.skipped) skipped (already done)" : ""
            print("\(counts.ok) ok, \(counts.failed) failed, \(counts.noFace) no face\(skipped); \(processed) images in \((seconds * 10).rounded() / 10) s (\(rate) images/s)")
            return counts
        }
    }
}

enum FileSystemCheck {
    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }
}

extension Duration {
    var secondsValue: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
