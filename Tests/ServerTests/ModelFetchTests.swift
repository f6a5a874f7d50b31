import Foundation
import Hummingbird
import Logging
import ModelFetch
import NIOCore
import ServiceLifecycle
import SmartCrop
import Synchronization
import Testing

/// Setup's model download against a model server on loopback: good files, wrong ones, a
/// download that breaks off and is resumed, and a server that is not there.
extension ServerSuite {
    @Suite("Model fetch") struct ModelFetchTests {
        /// What the model server does with a request.
        enum Behaviour: Sendable { case serve, serveOtherBytes, breakOffHalfway }

        /// Serves `/face_detection_yunet_2023mar.onnx` and `/u2netp.onnx` from `files`, honours
        /// `Range: bytes=N-`, and records every Range it was asked for.
        final class ModelServer: Sendable {
            let files: [String: [UInt8]]
            let behaviour = Mutex(Behaviour.serve)
            let ranges = Mutex<[String]>([])
            init(files: [String: [UInt8]]) { self.files = files }

            func with<T>(_ body: (String) async throws -> T) async throws -> T {
                let router = Router()
                router.get("/{name}") { request, context -> Response in
                    guard let bytes = self.files[context.parameters.get("name") ?? ""] else { return Response(status: .notFound) }
                    var start = 0
                    if let range = request.headers[.range] {
                        self.ranges.withLock { $0.append(range) }
                        start = Int(range.dropFirst("bytes=".count).prefix { $0.isNumber }) ?? 0
                    }
                    let body: [UInt8]
                    switch self.behaviour.withLock({ $0 }) {
                    case .serve: body = Array(bytes[start...])
                    case .serveOtherBytes: body = bytes.map { $0 ^ 0x5A }
                    case .breakOffHalfway:
                        // Announces the whole file, sends half, then fails: the connection drops.
                        let half = Array(bytes[start..<(start + (bytes.count - start) / 2)])
                        return Response(status: .ok, headers: [.contentLength: String(bytes.count - start)], body: .init { writer in
                            try await writer.write(ByteBuffer(bytes: half))
                            throw CancellationError()
                        })
                    }
                    var headers: HTTPFields = [.contentType: "application/octet-stream"]
                    if start > 0 { headers[.contentRange] = "bytes \(start)-\(bytes.count - 1)/\(bytes.count)" }
                    return Response(status: start > 0 ? .partialContent : .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
                }
                return try await serveOnLoopback(router, label: "model") { port in try await body("http://127.0.0.1:\(port)/") }
            }
        }

        /// Two made-up model files, pinned, so these tests need nothing from outside.
        static func madeUpModels() -> (files: [String: [UInt8]], pinned: [PinnedModelFile]) {
            var state: UInt32 = 99
            func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in state = state &* 1_664_525 &+ 1_013_904_223; return UInt8(state >> 24) } }
            let face = bytes(300_000), subject = bytes(1_200_000)
            return ([ModelSlot.face.fileName: face, ModelSlot.subject.fileName: subject],
                    [PinnedModelFile(slot: .face, name: "test face", byteCount: face.count, sha256: PinnedModels.sha256Hex(face), url: nil),
                     PinnedModelFile(slot: .subject, name: "test subject", byteCount: subject.count, sha256: PinnedModels.sha256Hex(subject), url: nil)])
        }

        func contents(_ directory: TemporaryFolder) -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()
        }

        @Test("a good file is installed, verified, and found there the next time")
        func goodFiles() async throws {
            let (files, pinned) = Self.madeUpModels()
            let directory = TemporaryFolder()
            let fetcher = ModelFetcher(pinned: pinned)
            try await ModelServer(files: files).with { base in
                let results = await fetcher.fetch(from: .baseURL(base), into: directory.path)
                #expect(results.map(\.outcome) == [.installed(pinned[0], from: base + files.keys.sorted()[0]),
                                                   .installed(pinned[1], from: base + files.keys.sorted()[1])])
                #expect(contents(directory) == files.keys.sorted())
                for (name, bytes) in files { #expect(FileManager.default.contents(atPath: directory.path + "/" + name) == Data(bytes)) }
                let again = await fetcher.fetch(from: .baseURL(base), into: directory.path)
                #expect(again.map(\.outcome) == [.present(pinned[0]), .present(pinned[1])])
            }
        }

        @Test("a file with the wrong sha256 is refused and nothing is left behind")
        func wrongFileIsRefused() async throws {
            let (files, pinned) = Self.madeUpModels()
            let directory = TemporaryFolder()
            let server = ModelServer(files: files)
            server.behaviour.withLock { $0 = .serveOtherBytes }
            try await server.with { base in
                let results = await ModelFetcher(pinned: pinned).fetch(from: .baseURL(base), into: directory.path)
                for result in results {
                    guard case .failed(let why) = result.outcome else { Issue.record("\(result)"); continue }
                    #expect(why.contains("not a pinned") && why.contains("nothing was kept"), "\(why)")
                    #expect(result.summary.contains("not installed") && result.summary.contains(result.slot.qualityWithout))
                }
                #expect(contents(directory).isEmpty, "\(contents(directory))")
            }
        }

        @Test("a download that breaks off is kept as .partial and resumed with a Range request")
        func brokenDownloadResumes() async throws {
            let (files, pinned) = Self.madeUpModels()
            let directory = TemporaryFolder()
            let server = ModelServer(files: files)
            let fetcher = ModelFetcher(pinned: pinned)
            try await server.with { base in
                server.behaviour.withLock { $0 = .breakOffHalfway }
                let broken = await fetcher.fetch([.subject], from: .baseURL(base), into: directory.path)
                guard case .failed(let why) = broken[0].outcome else { Issue.record("\(broken)"); return }
                #expect(why.contains("run again to resume"), "\(why)")
                #expect(contents(directory) == [".u2netp.onnx.partial"], "only the part, never the target")
                let kept = try #require(FileManager.default.contents(atPath: directory.path + "/.u2netp.onnx.partial"))
                #expect(kept.count > 0 && kept.count < 1_200_000)
                #expect(kept == Data(files["u2netp.onnx"]!.prefix(kept.count)))

                server.behaviour.withLock { $0 = .serve }
                let resumed = await fetcher.fetch([.subject], from: .baseURL(base), into: directory.path)
                #expect(resumed[0].outcome == .installed(pinned[1], from: base + "u2netp.onnx"))
                #expect(server.ranges.withLock { $0 } == ["bytes=\(kept.count)-"])
                #expect(contents(directory) == ["u2netp.onnx"])
                #expect(FileManager.default.contents(atPath: directory.path + "/u2netp.onnx") == Data(files["u2netp.onnx"]!))
            }
        }

        @Test("a server that is down: a clear failure per model, quickly, and nothing written")
        func serverDown() async throws {
            let (_, pinned) = Self.madeUpModels()
            let directory = TemporaryFolder()
            // A port that was free a moment ago: nothing listens on it.
            let port = try await ModelServer(files: [:]).with { base in base }
            let start = ContinuousClock.now
            let results = await ModelFetcher(pinned: pinned).fetch(from: .baseURL(port), into: directory.path)
            #expect(ContinuousClock.now - start < .seconds(10))
            #expect(results.count == 2)
            for result in results {
                guard case .failed(let why) = result.outcome else { Issue.record("\(result)"); continue }
                #expect(why.contains("could not be reached"), "\(why)")
            }
            #expect(contents(directory).isEmpty)
        }

        @Test("a folder as the source, and the real pinned files when they are beside the repository")
        func fromAFolder() async throws {
            let (files, pinned) = Self.madeUpModels()
            let source = TemporaryFolder(), directory = TemporaryFolder()
            for (name, bytes) in files { FileManager.default.createFile(atPath: source.path + "/" + name, contents: Data(bytes)) }
            let results = await ModelFetcher(pinned: pinned).fetch(from: .folder(source.path), into: directory.path)
            #expect(results.map(\.outcome) == [.installed(pinned[0], from: source.path + "/" + ModelSlot.face.fileName),
                                               .installed(pinned[1], from: source.path + "/" + ModelSlot.subject.fileName)])

            let shared = Images.packageRoot.appendingPathComponent("../shared/models").standardized.path
            guard FileManager.default.fileExists(atPath: shared + "/u2netp.onnx") else {
                print("note: \(shared) is absent; the real model files were not fetched")
                return
            }
            // The shared files, served over HTTP, against the real pinned list.
            let real = Dictionary(uniqueKeysWithValues: ModelSlot.allCases.map { ($0.fileName, [UInt8](FileManager.default.contents(atPath: shared + "/" + $0.fileName)!)) })
            let installed = TemporaryFolder()
            try await ModelServer(files: real).with { base in
                let results = await ModelFetcher().fetch(from: .baseURL(base), into: installed.path)
                for result in results {
                    guard case .installed(let file, _) = result.outcome else { Issue.record("\(result)"); continue }
                    #expect(file.slot == result.slot)
                }
            }
            let search = ModelSearch(environment: ["SMARTCROP_MODEL_DIR": installed.path], executablePath: nil)
            #expect(try FaceModels(search: search).hasYuNet)
            #expect(try SubjectModels(search: search).source == "model")
        }
    }
}

/// A temporary folder that goes away with the test.
final class TemporaryFolder: Sendable {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("smartcrop-models-\(UUID().uuidString)").path
    init() { try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

extension ServerSuite {
    @Suite("Model info") struct ModelInfoTests {
        @Test("/v1/info says which models run, by pinned name and file name, without paths")
        func infoNamesTheModels() async throws {
            try await TestServer.with({ $0.faceModel = "none"; $0.subjectModel = "none" }) { server in
                let reply = try await HTTP.get(server.base + "/v1/info")
                #expect(reply.status == 200, "\(reply.text)")
                let models = try #require(reply.data["models"] as? [[String: Any]])
                #expect(models.map { $0["runs"] as? String } == ["the embedded MTCNN", "the heuristic subject map"])
                #expect(reply.data["kernels"] as? String == KernelReport.current.selected)
            }
            let shared = Images.packageRoot.appendingPathComponent("../shared/models").standardized.path
            guard FileManager.default.fileExists(atPath: shared + "/u2netp.onnx") else {
                print("note: \(shared) is absent; /v1/info was not checked with the models")
                return
            }
            try await TestServer.with({ $0.faceModel = shared + "/face_detection_yunet_2023mar.onnx"; $0.subjectModel = shared + "/u2netp.onnx" }) { server in
                let reply = try await HTTP.get(server.base + "/v1/info")
                let models = try #require(reply.data["models"] as? [[String: Any]])
                #expect(models.map { $0["runs"] as? String } == ["YuNet", "U-2-Netp"])
                #expect(models.map { $0["pinned"] as? String } == ["YuNet 2023mar (OpenCV Zoo)", "U-2-Netp (free-size export)"])
                #expect(models.map { $0["path"] as? String } == ["face_detection_yunet_2023mar.onnx", "u2netp.onnx"])
                #expect(models[1]["input_size"] as? Int == 224)
                #expect(!reply.text.contains(shared), "no folder names in an answer")
            }
        }
    }
}
