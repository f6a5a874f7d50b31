import ArgumentParser
import Foundation
import ModelFetch
import SmartCrop

/// `smartcrop models fetch`, run here for its HTTP client: installs the pinned model files.
struct FetchModels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch-models",
        abstract: "Download the pinned YuNet and U-2-Netp files and verify them (what `smartcrop models fetch` runs)."
    )

    @Option(help: "Where to get them: a base URL (https://mirror/models/) or a folder; default the publishers' URLs.")
    var from: String?

    @Option(help: "Where to install them; default the user data folder ($XDG_DATA_HOME/smartcrop/models).")
    var dir: String?

    @Option(help: "Only this slot: face or subject.")
    var slot: String?

    func run() throws {
        let slots: [ModelSlot]
        if let slot {
            guard let one = ModelSlot(rawValue: slot) else { throw ValidationError("--slot must be face or subject") }
            slots = [one]
        } else {
            slots = ModelSlot.allCases
        }
        let search = ModelSearch()
        guard let directory = dir ?? search.folders.first(where: { if case .userData = $0 { true } else { false } })?.path else {
            throw ValidationError("no user data folder is known (HOME and XDG_DATA_HOME are unset); give --dir")
        }
        var fetcher = ModelFetcher()
        let bar: ProgressLine? = isatty(STDERR_FILENO) != 0 ? ProgressLine() : nil
        if let bar {
            fetcher.progress = { slot, received, total in bar.show(slot, received, total) }
        }
        let source = from.map(ModelFetcher.Source.init) ?? .upstream
        let configured = fetcher
        nonisolated(unsafe) var results: [ModelFetcher.Result] = []
        try ServerMain.runBlocking { results = await configured.fetch(slots, from: source, into: directory) }
        bar?.finish()
        for result in results { print(result.summary) }
        if results.contains(where: { if case .failed = $0.outcome { true } else { false } }) {
            throw ExitCode(1)
        }
    }
}

/// "face  1.2 of 4.6 MB" rewritten in place on a terminal, at most ten times a second.
final class ProgressLine: @unchecked Sendable {
    private let lock = NSLock()
    private var last = ContinuousClock.now - .seconds(1)
    private var shown = false

    func show(_ slot: ModelSlot, _ received: Int, _ total: Int?) {
        lock.lock()
        defer { lock.unlock() }
        let now = ContinuousClock.now
        guard now - last >= .milliseconds(100) || received == total else { return }
        last = now
        let mb = { (bytes: Int) in String(format: "%.1f", Double(bytes) / 1e6) }
        let of = total.map { " of \(mb($0)) MB" } ?? " MB"
        FileHandle.standardError.write(Data("\r\(slot.rawValue) model: \(mb(received))\(of)\u{1B}[K".utf8))
        shown = true
    }

    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}
