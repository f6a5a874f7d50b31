import Foundation
@testable import SmartCropServer
import Testing

extension ServerSuite {
    @Suite("Replicas sharing a download directory") struct ReplicaTests {
        @Test("a tool result made by one replica downloads through another")
        func uploadThroughOneDownloadThroughAnother() async throws {
            let shared = FileManager.default.temporaryDirectory.appendingPathComponent("smartcrop-shared-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: shared) }
            try await TestServer.with({ $0.downloadDirectory = shared }) { first in
                try await TestServer.with({ $0.downloadDirectory = shared }) { second in
                    #expect(first.port != second.port)
                    let reply = try await HTTP.postMultipart(first.base + "/api/v1/tools/smart-crop", file: Images.small,
                                                             fields: ["settings": ["mode": "auto", "width": 64, "height": 64]])
                    #expect(reply.status == 200, "\(reply.text)")
                    let url = try #require(reply.json["downloadUrl"] as? String)
                    let viaSecond = try await HTTP.get(second.base + url)
                    #expect(viaSecond.status == 200)
                    #expect(viaSecond.body.count == reply.json["processedSize"] as? Int)
                    let viaFirst = try await HTTP.get(first.base + url)
                    #expect(viaFirst.body == viaSecond.body)
                }
            }
        }

        @Test("several replicas sweeping one directory at once remove each expired result once and keep the fresh ones")
        func concurrentSweeps() throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("smartcrop-sweep-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let stores = try (0..<4).map { _ in try DownloadStore(directory: directory, ttl: .seconds(60)) }
            var expired: [String] = [], fresh: [String] = []
            for index in 0..<60 {
                let id = UUID().uuidString.lowercased()
                let folder = (directory as NSString).appendingPathComponent(id)
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
                try Data("result \(index)".utf8).write(to: URL(fileURLWithPath: (folder as NSString).appendingPathComponent("a_smartcrop.jpg")))
                if index % 3 == 0 {
                    fresh.append(id)
                } else {
                    try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -120)], ofItemAtPath: folder)
                    expired.append(id)
                }
            }
            DispatchQueue.concurrentPerform(iterations: 8) { i in stores[i % stores.count].sweep() }
            let left = Set(try FileManager.default.contentsOfDirectory(atPath: directory))
            #expect(left == Set(fresh), "left: \(left.count), fresh: \(fresh.count)")
            #expect(expired.allSatisfy { !left.contains($0) })
        }
    }
}
