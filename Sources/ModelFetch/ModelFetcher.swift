import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SmartCrop

/// Installs the pinned model files (`PinnedModels`) into a folder: from their publishers'
/// URLs, from a mirror, or from a local folder. Nothing is installed that is not byte for byte
/// a pinned file; a download that stops part-way is kept beside the target as `.NAME.partial`
/// and resumed (HTTP Range) by the next run; a wrong file is deleted. Setup runs this, and
/// `smartcrop models fetch` for people who installed the binaries without make.
public struct ModelFetcher: Sendable {
    public enum Source: Sendable, Equatable, CustomStringConvertible {
        /// Each file's own `url`.
        case upstream
        /// `BASE/<file name>`, for a mirror.
        case baseURL(String)
        /// `FOLDER/<file name>`.
        case folder(String)

        /// "http(s)://…" is a base URL, anything else a folder.
        public init(_ text: String) {
            self = text.hasPrefix("http://") || text.hasPrefix("https://") ? .baseURL(text) : .folder(text)
        }

        public var description: String {
            switch self {
            case .upstream: "the publishers' URLs"
            case .baseURL(let base): base
            case .folder(let folder): folder
            }
        }
    }

    public enum Outcome: Sendable, Equatable {
        /// The file was there already and is a pinned one.
        case present(PinnedModelFile)
        case installed(PinnedModelFile, from: String)
        /// Nothing installed; the reason in a few words.
        case failed(String)
    }

    public struct Result: Sendable, Equatable {
        public let slot: ModelSlot
        public let path: String
        public let outcome: Outcome

        /// One line: what is installed, or what is missing and what runs instead.
        public var summary: String {
            switch outcome {
            case .present(let file): "\(slot) model: \(file.name) already installed at \(path)"
            case .installed(let file, let from): "\(slot) model: \(file.name) installed at \(path) (from \(from))"
            case .failed(let why): "\(slot) model not installed (\(why)); \(slot.qualityWithout)"
            }
        }
    }

    public var pinned: [PinnedModelFile]
    /// Called as bytes arrive: slot, bytes so far (resumed ones included), expected total if known.
    public var progress: (@Sendable (ModelSlot, Int, Int?) -> Void)?
    public var connectTimeout: TimeAmount = .seconds(15)
    public var fileDeadline: Duration = .seconds(600)

    public init(pinned: [PinnedModelFile] = PinnedModels.files) {
        self.pinned = pinned
    }

    /// Installs each slot's file into `directory` (created if needed).
    public func fetch(_ slots: [ModelSlot] = ModelSlot.allCases, from source: Source, into directory: String) async -> [Result] {
        var results: [Result] = []
        for slot in slots {
            let path = directory + "/" + slot.fileName
            results.append(Result(slot: slot, path: path, outcome: await install(slot, from: source, to: path, directory: directory)))
        }
        return results
    }

    private func install(_ slot: ModelSlot, from source: Source, to path: String, directory: String) async -> Outcome {
        let files = pinned.filter { $0.slot == slot }
        guard !files.isEmpty else { return .failed("no pinned file") }
        if let data = FileManager.default.contents(atPath: path), let known = PinnedModels.identify([UInt8](data), slot: slot, among: files) {
            return .present(known)
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            return .failed("cannot create \(directory)")
        }
        let candidates: [String] = switch source {
        case .upstream: files.compactMap(\.url)
        case .baseURL(let base): [(base.hasSuffix("/") ? base : base + "/") + slot.fileName]
        case .folder(let folder): [folder + "/" + slot.fileName]
        }
        guard !candidates.isEmpty else { return .failed("no download URL is known") }
        var reasons: [String] = []
        for candidate in candidates {
            let partial = directory + "/." + slot.fileName + ".partial"
            let result: Outcome
            if case .folder = source {
                result = copy(candidate, slot: slot, files: files, partial: partial, to: path)
            } else {
                result = await download(candidate, slot: slot, files: files, partial: partial, to: path)
            }
            if case .failed(let why) = result { reasons.append(why) } else { return result }
        }
        return .failed(reasons.joined(separator: "; "))
    }

    private func copy(_ file: String, slot: ModelSlot, files: [PinnedModelFile], partial: String, to path: String) -> Outcome {
        guard let data = FileManager.default.contents(atPath: file) else { return .failed("\(file) cannot be read") }
        return settle(Array(data), from: file, slot: slot, files: files, partial: partial, to: path)
    }

    /// Installs `bytes`, all that arrived, if they are a pinned file; else deletes them.
    private func settle(_ bytes: [UInt8], from: String, slot: ModelSlot, files: [PinnedModelFile], partial: String, to path: String) -> Outcome {
        guard let known = PinnedModels.identify(bytes, slot: slot, among: files) else {
            unlink(partial)
            return .failed("\(from) is not a pinned \(slot) model file (\(bytes.count) bytes, sha256 \(PinnedModels.sha256Hex(bytes))); nothing was kept")
        }
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: partial))
            // rename(2): a reader sees the old file or the whole new one, never a part.
            guard rename(partial, path) == 0 else { throw CocoaError(.fileWriteUnknown) }
            return .installed(known, from: from)
        } catch {
            unlink(partial)
            return .failed("cannot write \(path)")
        }
    }

    private func download(_ url: String, slot: ModelSlot, files: [PinnedModelFile], partial: String, to path: String) async -> Outcome {
        let largest = files.map(\.byteCount).max() ?? 0
        // What an earlier run left, to resume from.
        var have = (try? Data(contentsOf: URL(fileURLWithPath: partial))).map(Array.init) ?? []
        if have.count >= largest { have = [] }
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "User-Agent", value: "smartcrop/\(smartcropVersion) model fetch")
        if !have.isEmpty { request.headers.add(name: "Range", value: "bytes=\(have.count)-") }
        var configuration = HTTPClient.Configuration(redirectConfiguration: .follow(max: 5, allowCycles: false),
                                                     timeout: .init(connect: connectTimeout, read: .seconds(60)))
        // A refused connection is an answer: setup goes on at once rather than retrying until
        // the connect timeout.
        configuration.connectionPool.retryConnectionEstablishment = false
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let outcome = await download(request, with: client, url: url, have: have, largest: largest, slot: slot, files: files,
                                     partial: partial, to: path)
        try? await client.shutdown()
        return outcome
    }

    private func download(_ request: HTTPClientRequest, with client: HTTPClient, url: String, have: [UInt8], largest: Int,
                          slot: ModelSlot, files: [PinnedModelFile], partial: String, to path: String) async -> Outcome {
        var bytes: [UInt8] = []
        do {
            let response = try await client.execute(request, deadline: .now() + .seconds(fileDeadline.components.seconds))
            switch response.status {
            case .partialContent where !have.isEmpty: bytes = have
            case .ok: bytes = []
            case .rangeNotSatisfiable:
                // What was kept is no start of this file: begin again next time.
                unlink(partial)
                return .failed("\(url) refused to resume; run again to download it whole")
            default:
                return .failed("\(url) answered \(response.status.code)")
            }
            let total = response.headers.first(name: "Content-Length").flatMap(Int.init).map { $0 + bytes.count }
            progress?(slot, bytes.count, total)
            do {
                for try await chunk in response.body {
                    bytes.append(contentsOf: chunk.readableBytesView)
                    // Larger than any pinned file: it is not one, whatever follows.
                    guard bytes.count <= largest else { break }
                    progress?(slot, bytes.count, total)
                }
            } catch {
                // The connection broke part-way: keep what arrived, for the next run to resume.
                if bytes.count < largest { try? Data(bytes).write(to: URL(fileURLWithPath: partial)) }
                return .failed("the download from \(url) broke off after \(bytes.count) bytes; run again to resume it")
            }
        } catch {
            return .failed("\(url) could not be reached (\(Self.describe(error)))")
        }
        return settle(bytes, from: url, slot: slot, files: files, partial: partial, to: path)
    }

    private static func describe(_ error: any Error) -> String {
        if let client = error as? HTTPClientError { return "\(client)" }
        let text = "\(error)"
        return text.count > 160 ? String(text.prefix(160)) + "…" : text
    }
}
