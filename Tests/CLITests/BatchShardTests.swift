import Foundation
import Testing

/// `batch --shard I/N`, `--resume` and `--report`: machines that split a folder between them
/// take disjoint shares that cover it, and a stopped run picks up without redoing work.
@Suite struct BatchShardTests {
    /// A folder of `count` small photos with different names and contents.
    static func photos(_ count: Int, in ws: Workspace) throws -> [String] {
        try FileManager.default.createDirectory(atPath: ws.path("in"), withIntermediateDirectories: true)
        return try (0..<count).map { i in
            let name = "photo-\(i).png"
            try Workspace.png(width: 60 + 7 * i, height: 40 + 3 * i) { x, y in
                [UInt8((x * (i + 2)) % 256), UInt8((y * 5 + i * 30) % 256), UInt8((x + y) % 256)]
            }.write(to: URL(fileURLWithPath: ws.path("in/" + name)))
            return name
        }
    }

    /// The report's lines as dictionaries.
    static func report(_ path: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    @Test func shardsAreDisjointAndCoverEveryFile() throws {
        let ws = try Workspace()
        let names = try Self.photos(11, in: ws)
        var taken: [Set<String>] = []
        for index in 0..<3 {
            let r = try CLI.run(["batch", ws.path("in"), ws.path("out"), "--sizes", "16x16", "--jobs", "2",
                                 "--shard", "\(index)/3", "--report", ws.path("report-\(index).jsonl")])
            #expect(r.status == 0, "\(r.stderr)")
            let lines = try Self.report(ws.path("report-\(index).jsonl"))
            #expect(lines.allSatisfy { $0["status"] as? String == "ok" })
            taken.append(Set(lines.compactMap { $0["input"] as? String }))
            #expect(taken[index].count == lines.count, "each file once in its shard's report")
        }
        for a in 0..<3 { for b in (a + 1)..<3 { #expect(taken[a].isDisjoint(with: taken[b]), "shards \(a) and \(b) overlap") } }
        #expect(taken.reduce(Set<String>()) { $0.union($1) } == Set(names))
        #expect(taken.filter { !$0.isEmpty }.count >= 2, "eleven names spread over more than one shard: \(taken)")
        let outputs = try FileManager.default.contentsOfDirectory(atPath: ws.path("out"))
        #expect(outputs.count == names.count, "one 16x16 output per photo: \(outputs.sorted())")

        // The same share again takes the same files.
        let again = try CLI.run(["batch", ws.path("in"), ws.path("again"), "--sizes", "16x16", "--shard", "1/3",
                                 "--report", ws.path("again.jsonl")])
        #expect(again.status == 0)
        #expect(Set(try Self.report(ws.path("again.jsonl")).compactMap { $0["input"] as? String }) == taken[1])
    }

    @Test func aStoppedRunResumesWithoutRedoingWork() throws {
        let ws = try Workspace()
        let names = try Self.photos(6, in: ws)
        let arguments = ["batch", ws.path("in"), ws.path("out"), "--sizes", "24x24,40x20:jpeg", "--jobs", "2"]
        let first = try CLI.run(arguments)
        #expect(first.status == 0, "\(first.stderr)")
        let outputs = try FileManager.default.contentsOfDirectory(atPath: ws.path("out")).sorted()
        #expect(outputs.count == 2 * names.count)
        var written: [String: (bytes: Data, modified: Date)] = [:]
        for name in outputs {
            let path = ws.path("out/" + name)
            let modified = try #require(try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date)
            written[name] = (try Data(contentsOf: URL(fileURLWithPath: path)), modified)
        }
        // What a run stopped part-way leaves: one photo without one of its outputs, another
        // with an output cut short (by something other than our renaming writer).
        try FileManager.default.removeItem(atPath: ws.path("out/photo-1-40x20.jpg"))
        try written["photo-4-24x24.webp"]!.bytes.prefix(30).write(to: URL(fileURLWithPath: ws.path("out/photo-4-24x24.webp")))
        Thread.sleep(forTimeInterval: 1.1)  // so that a rewrite would show in the modification time

        let resumed = try CLI.run(arguments + ["--resume", "--report", ws.path("report.jsonl")])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("4 skipped"), "\(resumed.stdout)")
        let lines = try Self.report(ws.path("report.jsonl"))
        let status = Dictionary(uniqueKeysWithValues: lines.map { ($0["input"] as! String, $0["status"] as! String) })
        #expect(status == ["photo-0.png": "skipped", "photo-1.png": "ok", "photo-2.png": "skipped", "photo-3.png": "skipped",
                           "photo-4.png": "ok", "photo-5.png": "skipped"])
        for name in outputs {
            let path = ws.path("out/" + name)
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            #expect(data == written[name]!.bytes, "\(name) is whole again and the same as the first run's")
            let modified = try #require(try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date)
            let redone = name.hasPrefix("photo-1-") || name.hasPrefix("photo-4-")
            #expect((modified != written[name]!.modified) == redone, "\(name) \(redone ? "was" : "was not") rewritten")
        }
        // An "ok" line says what was cut and written.
        let ok = try #require(lines.first { $0["input"] as? String == "photo-1.png" })
        let variants = try #require(ok["variants"] as? [[String: Any]])
        #expect(variants.count == 2)
        #expect(variants.allSatisfy { $0["crop"] != nil && ($0["output"] as? [String: Any])?["path"] != nil })
    }

    @Test func aFailedImageIsReportedWithItsError() throws {
        let ws = try Workspace()
        _ = try Self.photos(2, in: ws)
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: ws.path("in/broken.png")))
        let r = try CLI.run(["batch", ws.path("in"), ws.path("out"), "--sizes", "16x16", "--report", ws.path("r.jsonl")])
        #expect(r.status == 1)
        let lines = try Self.report(ws.path("r.jsonl"))
        let broken = try #require(lines.first { $0["input"] as? String == "broken.png" })
        #expect(broken["status"] as? String == "failed")
        #expect((broken["error"] as? String)?.isEmpty == false)
        #expect(lines.filter { $0["status"] as? String == "ok" }.count == 2)
    }

    @Test func aShardOutsideItsCountIsAUsageError() throws {
        let ws = try Workspace()
        for shard in ["3/3", "-1/2", "1", "a/b", "0/0"] {
            let r = try CLI.run(["batch", ws.url.path, ws.path("out"), "--sizes", "16x16", "--shard", shard])
            #expect(r.status == 2, "--shard \(shard): \(r.stderr)")
        }
    }
}
