import Foundation
import SmartCrop
@testable import SmartCropServer
import Testing

/// What the tests need from outside Swift. `make test` provides both (mk/server.mk): a venv with
/// openapi-spec-validator and selenium (SMARTCROP_TEST_VENV) and Debian's chromium and
/// chromedriver. Run by hand without them, the tests that need them are skipped.
enum Tooling {
    static var venvPython: String? {
        let env = ProcessInfo.processInfo.environment
        let venv = env["SMARTCROP_TEST_VENV"] ?? Images.packageRoot.appendingPathComponent(".venv-test").path
        let python = venv + "/bin/python"
        return FileManager.default.isExecutableFile(atPath: python) ? python : nil
    }

    static var hasChromium: Bool {
        ["/usr/bin/chromium", "/usr/bin/chromedriver"].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
    }

    struct Result {
        let status: Int32
        let output: String
    }

    static func run(_ executable: String, _ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }
}

extension ServerSuite {
    @Suite("OpenAPI") struct OpenAPITests {
        @Test("every route is described, with its errors, and nothing else")
        func everyRouteDescribed() async throws {
            try await TestServer.with { server in
                let reply = try await HTTP.get(server.base + "/openapi.json")
                #expect(reply.status == 200)
                let document = reply.json
                #expect(document["openapi"] as? String == "3.1.0")
                let paths = try #require(document["paths"] as? [String: [String: Any]])
                let routes = try SmartCropServer.routes()
                #expect(routes.count == 12)
                for route in routes {
                    let operation = paths[route.path]?[route.method.lowercased()] as? [String: Any]
                    #expect(operation != nil, "\(route.method) \(route.path) is described")
                    let responses = operation?["responses"] as? [String: Any] ?? [:]
                    #expect(responses["200"] != nil, "\(route.path) documents its answer")
                    if route.method == "POST" {
                        for status in ["400", "401", "413", "415", "422", "503", "504"] {
                            #expect(responses[status] != nil, "\(route.path) documents \(status)")
                        }
                    }
                }
                let described = paths.flatMap { path, operations in operations.keys.map { "\($0.uppercased()) \(path)" } }
                #expect(Set(described) == Set(routes.map { "\($0.method) \($0.path)" }))
                let schemas = (document["components"] as? [String: Any])?["schemas"] as? [String: Any]
                let operation = (schemas?["Operation"] as? [String: Any])?["oneOf"] as? [[String: Any]]
                let types = operation?.compactMap { (($0["properties"] as? [String: Any])?["type"] as? [String: Any])?["const"] as? String }
                #expect(Set(types ?? []) == Set(ImageOperation.typeNames))
            }
        }

        @Test("the document validates (openapi-spec-validator)", .enabled(if: Tooling.venvPython != nil, "needs the test venv: make test"))
        func validates() async throws {
            let python = try #require(Tooling.venvPython)
            try await TestServer.with { server in
                let reply = try await HTTP.get(server.base + "/openapi.json")
                let file = FileManager.default.temporaryDirectory.appendingPathComponent("smartcrop-openapi-\(UUID()).json")
                try reply.body.write(to: file)
                defer { try? FileManager.default.removeItem(at: file) }
                let result = try Tooling.run(python, ["-m", "openapi_spec_validator", file.path])
                #expect(result.status == 0, "\(result.output)")
                #expect(result.output.contains("OK"))
            }
        }
    }
}

extension ServerSuite {
    @Suite("Playground in a browser") struct BrowserTests {
        @Test("upload a photo in headless Chromium and see faces, crops and results",
              .enabled(if: Tooling.venvPython != nil && Tooling.hasChromium, "needs chromium, chromedriver and the test venv: make test"))
        func playground() async throws {
            let python = try #require(Tooling.venvPython)
            let photo = Images.assets.appendingPathComponent("samples/astronaut.png").path
            _ = try Images.sample("astronaut.png")
            let script = Images.packageRoot.appendingPathComponent("Tests/ServerTests/browser/playground_test.py").path
            let screenshot = ProcessInfo.processInfo.environment["SMARTCROP_SCREENSHOT"]
                ?? FileManager.default.temporaryDirectory.appendingPathComponent("smartcrop-playground.png").path
            try await TestServer.with { server in
                let result = try await Task.detached {
                    try Tooling.run(python, [script, "--url", server.base + "/", "--photo", photo, "--screenshot", screenshot])
                }.value
                #expect(result.status == 0, "\(result.output)")
                #expect(result.output.contains("three results at the sizes asked for"))
                #expect(FileManager.default.fileExists(atPath: screenshot))
            }
        }
    }
}

extension ServerSuite {
    @Suite("smartcrop serve") struct ServeCommandTests {
        static var binary: String? {
            var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            for _ in 0..<4 {
                let candidate = dir.appendingPathComponent("smartcrop").path
                if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
                dir.deleteLastPathComponent()
            }
            return nil
        }

        @Test("smartcrop serve and smartcrop-server take the same options", .enabled(if: binary != nil, "needs the smartcrop binary"))
        func sameOptions() throws {
            let cli = try #require(Self.binary)
            let server = URL(fileURLWithPath: cli).deletingLastPathComponent().appendingPathComponent("smartcrop-server").path
            func options(_ help: String) -> Set<String> { Set(help.matches(of: /--[a-z][a-z-]+/).map { String($0.0) }) }
            let serve = options(try Tooling.run(cli, ["serve", "--help"]).output)
            // The server runs `serve` when given no subcommand, as `smartcrop serve` calls it.
            let direct = options(try Tooling.run(server, ["serve", "--help"]).output)
            #expect(serve.isSuperset(of: ["--config", "--host", "--port", "--workers", "--face-model"]))
            #expect(serve == direct)
            // `smartcrop models fetch` execs `smartcrop-server fetch-models` the same way.
            let fetch = options(try Tooling.run(cli, ["models", "fetch", "--help"]).output)
            #expect(fetch.isSuperset(of: ["--from", "--dir", "--slot"]))
            #expect(fetch == options(try Tooling.run(server, ["fetch-models", "--help"]).output))
        }

        /// `smartcrop serve` on a free loopback port with one worker (or `workers`) and no queue
        /// (it execs smartcrop-server, same pid); `environment` adds settings.
        func launch(_ environment: [String: String], workers: Int = 1) throws -> (process: Process, port: Int, log: String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: try #require(Self.binary))
            process.arguments = ["serve", "--host", "127.0.0.1", "--port", "0", "--workers", String(workers)]
            var inherited = ProcessInfo.processInfo.environment
            // glibc's own arena setting would decide for the server instead of its settings.
            inherited["MALLOC_ARENA_MAX"] = nil
            inherited["GLIBC_TUNABLES"] = nil
            process.environment = inherited.merging(["SMARTCROP_QUEUE_SIZE": "0"].merging(environment) { $1 }) { $1 }
            let stderr = Pipe()
            process.standardError = stderr
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            // The log line "smartcrop listening port=N" tells the port.
            var log = ""
            while true {
                let chunk = stderr.fileHandleForReading.availableData
                guard !chunk.isEmpty else { break }
                log += String(decoding: chunk, as: UTF8.self)
                if let match = log.firstMatch(of: /port=(\d+)/), let port = Int(match.1) { return (process, port, log) }
            }
            process.terminate()
            throw TestFailure("the server did not start: \(log)")
        }

        @Test("SIGTERM stops accepting and lets the request in flight finish", .enabled(if: binary != nil, "needs the smartcrop binary"))
        func gracefulShutdown() async throws {
            let downloads = FileManager.default.temporaryDirectory.appendingPathComponent("smartcrop-serve-\(UUID())")
            defer { try? FileManager.default.removeItem(at: downloads) }
            let (process, port, log) = try launch(["SMARTCROP_DOWNLOAD_DIR": downloads.path])
            defer { if process.isRunning { process.terminate() } }
            let base = "http://127.0.0.1:\(port)"
            #expect(log.contains("no API key configured"))
            #expect(log.contains("kernels: "), "the start-up log names the inference kernels: \(log)")

            let slowImage = try Images.make(width: 1600, height: 1600)
            let slow = Task {
                try await HTTP.postJSON(base + "/v1/transform", ["file": Images.fileJSON(slowImage),
                                                                 "operations": [["type": "blur", "sigma": 20], ["type": "convert", "format": "png"]]])
            }
            #expect(try await waitUntilBusy(base), "the slow request reached the worker")
            kill(process.processIdentifier, SIGTERM)
            let reply = try await slow.value
            #expect(reply.status == 200, "the request in flight finished: \(reply.text)")
            #expect(reply.data["mime_type"] as? String == "image/png")
            for _ in 0..<400 where process.isRunning { try await Task.sleep(for: .milliseconds(25)) }
            #expect(!process.isRunning)
            #expect(process.terminationStatus == 0)
            #expect(!canConnect(port: port), "nothing listens after shutdown")
        }

        @Test("SIGTERM: an answer larger than the socket buffers reaches a client that reads it late", .enabled(if: binary != nil, "needs the smartcrop binary"))
        func drainKeepsLargeAnswers() async throws {
            let downloads = FileManager.default.temporaryDirectory.appendingPathComponent("smartcrop-serve-\(UUID())")
            defer { try? FileManager.default.removeItem(at: downloads) }
            let (process, port, _) = try launch(["SMARTCROP_DOWNLOAD_DIR": downloads.path])
            defer { if process.isRunning { process.terminate() } }
            // The texture compresses poorly: the PNG is several MB, more than loopback's socket
            // buffers hold while the client reads nothing.
            let photo = try Images.make(width: 2400, height: 2400)
            let body = try JSONSerialization.data(withJSONObject: ["file": Images.fileJSON(photo), "operations": [["type": "convert", "format": "png"]]])
            let connection = try RawConnection(port: port)
            connection.send("POST /v1/transform HTTP/1.1\r\nHost: localhost\r\nAccept: image/*\r\nContent-Type: application/json\r\n"
                            + "Content-Length: \(body.count)\r\n\r\n")
            connection.send(body)
            #expect(try await waitUntilBusy("http://127.0.0.1:\(port)"), "the request reached the worker")
            kill(process.processIdentifier, SIGTERM)
            // The answer is made and handed to the connection, and the server closes it, while
            // the client reads nothing.
            try await Task.sleep(for: .seconds(2))
            let (reply, closed) = connection.readUntilClosed(timeout: .seconds(30))
            let headerEnd = try #require(reply.firstRange(of: Data("\r\n\r\n".utf8)), "no answer: \(reply.count) bytes")
            let head = String(decoding: reply[..<headerEnd.lowerBound], as: UTF8.self)
            let length = try #require(head.firstMatch(of: /(?i)content-length: (\d+)/).flatMap { Int($0.1) }, "\(head)")
            #expect(head.hasPrefix("HTTP/1.1 200"), "\(head)")
            #expect(length > 4_000_000, "the answer is larger than the socket buffers: \(length) bytes")
            #expect(reply.count - headerEnd.upperBound == length, "got \(reply.count - headerEnd.upperBound) of \(length) bytes")
            #expect(closed)
            for _ in 0..<400 where process.isRunning { try await Task.sleep(for: .milliseconds(25)) }
            #expect(!process.isRunning)
            #expect(process.terminationStatus == 0)
        }

        @Test("a SMARTCROP_ISA the CPU cannot run stops the start, with the reason", .enabled(if: binary != nil, "needs the smartcrop binary"))
        func wrongKernelSetStopsTheStart() throws {
            let cli = try #require(Self.binary)
            let server = URL(fileURLWithPath: cli).deletingLastPathComponent().appendingPathComponent("smartcrop-server").path
            for (executable, arguments) in [(cli, ["serve"]), (server, [])] {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: executable)
                process.arguments = arguments + ["--host", "127.0.0.1", "--port", "0"]
                process.environment = ProcessInfo.processInfo.environment.merging(["SMARTCROP_ISA": "sse9"]) { $1 }
                let stderr = Pipe()
                process.standardError = stderr
                process.standardOutput = FileHandle.nullDevice
                try process.run()
                let message = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                process.waitUntilExit()
                #expect(process.terminationStatus != 0, "\(executable) started with SMARTCROP_ISA=sse9")
                #expect(message.contains("SMARTCROP_ISA=sse9"), "\(message)")
            }
        }

        @Test("the malloc arena cap is set at start: parallel jobs share its arenas", .enabled(if: binary != nil, "needs the smartcrop binary"))
        func mallocArenaCap() async throws {
            /// The arenas the server reports after 4 workers ran 16 crops side by side.
            func arenasAfterParallelJobs(_ environment: [String: String]) async throws -> (arenas: Int, log: String) {
                let (process, port, log) = try launch(environment.merging(["SMARTCROP_QUEUE_SIZE": "64"]) { $1 }, workers: 4)
                defer { if process.isRunning { process.terminate() } }
                let base = "http://127.0.0.1:\(port)"
                let photo = try Images.make(width: 900, height: 700)
                try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<16 {
                        group.addTask {
                            let operations: [[String: Any]] = [["type": "smart_crop", "width_in_px": 200, "height_in_px": 300],
                                                               ["type": "convert", "format": "webp"]]
                            return try await HTTP.postJSON(base + "/v1/transform", ["file": Images.fileJSON(photo), "operations": operations]).status
                        }
                    }
                    for try await status in group { #expect(status == 200) }
                }
                let metrics = try await HTTP.get(base + "/metrics").text
                let line = try #require(metrics.split(separator: "\n").first { $0.hasPrefix("smartcrop_malloc_arenas ") })
                return (Int(Double(line.split(separator: " ")[1]) ?? -1), log)
            }
            let capped = try await arenasAfterParallelJobs(["SMARTCROP_MALLOC_ARENA_MAX": "2"])
            #expect(capped.arenas >= 1 && capped.arenas <= 2, "\(capped.arenas) arenas with a cap of 2")
            #expect(capped.log.contains("malloc arenas: at most 2"), "\(capped.log)")
            // The default follows the workers: one arena each.
            let byWorkers = try await arenasAfterParallelJobs([:])
            #expect(byWorkers.arenas <= 4, "\(byWorkers.arenas) arenas for 4 workers")
            // And the same jobs without a cap take more arenas than the cap allows, so the
            // figures above come from the cap and not from the workload.
            let uncapped = try await arenasAfterParallelJobs(["SMARTCROP_MALLOC_ARENA_MAX": "0"])
            #expect(uncapped.arenas > 4, "\(uncapped.arenas) arenas without a cap")
        }

        @Test("SIGTERM with a stuck job exits within the drain timeout", .enabled(if: binary != nil, "needs the smartcrop binary"))
        func drainTimeout() async throws {
            let (process, port, _) = try launch(["SMARTCROP_DRAIN_TIMEOUT_SECONDS": "1", "SMARTCROP_DEADLINE_SECONDS": "600"])
            defer { if process.isRunning { process.terminate() } }
            let base = "http://127.0.0.1:\(port)"
            // Minutes of work: the drain timeout, not the job, must end the process.
            let photo = try Images.make(width: 1200, height: 1200)
            let stuck = Task { try? await HTTP.postJSON(base + "/v1/transform", ["file": Images.fileJSON(photo), "operations": longJob]) }
            #expect(try await waitUntilBusy(base), "the stuck job reached the worker")
            let signalled = ContinuousClock.now
            kill(process.processIdentifier, SIGTERM)
            while process.isRunning, ContinuousClock.now - signalled < .seconds(30) { try await Task.sleep(for: .milliseconds(25)) }
            let took = ContinuousClock.now - signalled
            #expect(!process.isRunning)
            // 1 s of drain, then the job's image work stops part-way.
            #expect(took >= .seconds(1) && took < .seconds(6), "exited \(took) after SIGTERM")
            stuck.cancel()
        }
    }
}
