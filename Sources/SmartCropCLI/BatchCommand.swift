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

    func validate() throws {
        if jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if let quality, !(1...100).contains(quality) { throw ValidationError("--quality must be between 1 and 100") }
        _ = try outputFormat(explicit: format, path: nil)
    }

    private enum Outcome { case ok(face: Bool), failed(String) }

    func run() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: inputDirectory)
            .filter { !$0.hasPrefix(".") }.sorted()
            .map { inputDirectory + "/" + $0 }
            .filter { !FileSystemCheck.isDirectory($0) }
        guard !files.isEmpty else { throw CLIError(message: "no files in \(inputDirectory)") }
        try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
        let format = try outputFormat(explicit: format, path: nil)
        let pipelines = try sizes.map { ($0.name, try $0.pipeline(choice, format: format, quality: quality, sharpen: sharpen)) }
        let options = try choice.pipelineOptions(explain: false)
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
                let file = files[index]
                let outcome: Outcome
                do {
                    let source = try OpenedSource(.file(file), limits: options.limits)
                    let results = try PipelineRunner.variants(pipelines, on: source, options: options)
                    let stem = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
                    for (_, result) in results {
                        try writeAtomically(result.data, to: "\(outputDirectory)/\(stem)-\(result.width)x\(result.height).\(result.format.fileExtension)")
                    }
                    outcome = .ok(face: results.first?.1.decision?.strategy == "face")
                } catch let error as SmartCropError {
                    outcome = .failed(error.message)
                } catch let error as CLIError {
                    outcome = .failed(error.message)
                } catch {
                    outcome = .failed("\(error)")
                }
                progress.finished(file, outcome: outcome)
            }
        }
        let seconds = max((ContinuousClock.now - start).secondsValue, 1e-9)
        // Scripts need to know that some files did not make it, after all the others did.
        if progress.summary(seconds: seconds).failed > 0 { throw ExitCode(1) }
    }

    /// The progress bar on a terminal, plain lines otherwise, and the counts for the summary.
    private final class Progress: @unchecked Sendable {
        let total: Int
        let interactive: Bool
        private let lock = Mutex<(done: Int, ok: Int, failed: Int, noFace: Int)>((0, 0, 0, 0))

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
        func summary(seconds: Double) -> (done: Int, ok: Int, failed: Int, noFace: Int) {
            let counts = lock.withLock { $0 }
            if interactive { print("") }
            let rate = (Double(counts.done) / seconds * 10).rounded() / 10
            print("\(counts.ok) ok, \(counts.failed) failed, \(counts.noFace) no face; \(counts.done) images in \((seconds * 10).rounded() / 10) s (\(rate) images/s)")
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
