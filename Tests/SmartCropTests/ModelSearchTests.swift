import Foundation
import Testing
@testable import SmartCrop

/// Where the binaries find model files without being told, in a made-up file tree: a home, an
/// XDG data folder, a model folder, an installation prefix and a development checkout.
@Suite struct ModelSearchTests {
    /// A tree with an installed binary at prefix/bin/smartcrop, and a checkout whose build is at
    /// checkout/.build/release/smartcrop.
    final class Tree {
        let root = TemporaryDirectory()
        var home: String { root.path("home") }
        var xdg: String { root.path("xdg") }
        var modelDir: String { root.path("models") }
        var prefix: String { root.path("prefix") }
        var checkout: String { root.path("checkout") }

        func put(_ slot: ModelSlot, in folder: String, bytes: [UInt8] = Array("not really a model".utf8)) {
            try! FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: folder + "/" + slot.fileName, contents: Data(bytes))
        }

        var userData: String { xdg + "/smartcrop/models" }
        var installed: String { prefix + "/share/smartcrop/models" }
        var development: String { checkout + "/.assets/models" }

        func search(_ environment: [String: String], installedBinary: Bool = true) -> ModelSearch {
            ModelSearch(environment: environment,
                        executablePath: installedBinary ? prefix + "/bin/smartcrop" : checkout + "/.build/release/smartcrop")
        }
    }

    @Test func theFoldersComeInTheDocumentedOrder() {
        let tree = Tree()
        let all = tree.search(["SMARTCROP_MODEL_DIR": tree.modelDir, "XDG_DATA_HOME": tree.xdg, "HOME": tree.home])
        #expect(all.folders == [.modelDirectoryVariable(tree.modelDir), .userData(tree.userData),
                                .installation(tree.installed)])
        // Without XDG_DATA_HOME the user folder is under HOME; a checkout's build adds its .assets.
        let checkout = tree.search(["HOME": tree.home], installedBinary: false)
        #expect(checkout.folders == [.userData(tree.home + "/.local/share/smartcrop/models"),
                                     .installation(tree.checkout + "/.build/share/smartcrop/models"),
                                     .developmentCheckout(tree.development)])
        // Other build folders count as a checkout's too (.build-NAME, a triple folder).
        let named = ModelSearch(environment: [:], executablePath: tree.checkout + "/.build-asan/x86_64-unknown-linux-gnu/debug/smartcrop")
        #expect(named.folders.last == .developmentCheckout(tree.development))
    }

    @Test(arguments: ModelSlot.allCases)
    func theFirstFolderHoldingTheFileWinsAndAGivenFileBeatsEveryFolder(slot: ModelSlot) {
        let tree = Tree()
        let environment = ["SMARTCROP_MODEL_DIR": tree.modelDir, "XDG_DATA_HOME": tree.xdg]
        let key = slot == .face ? FaceModels.modelEnvironmentKey : SubjectModels.modelEnvironmentKey
        func found(_ search: ModelSearch, given: String? = nil) -> ModelLocation? {
            search.locate(slot, given: given.map { ($0, "--option") }, environmentKey: key)
        }
        #expect(found(tree.search(environment, installedBinary: false)) == nil, "nothing anywhere")
        // Each location alone is found, and each one earlier in the order beats the later ones.
        let places: [(String, ModelSearch.Folder, Bool)] = [
            (tree.development, .developmentCheckout(tree.development), false),
            (tree.installed, .installation(tree.installed), true),
            (tree.userData, .userData(tree.userData), true),
            (tree.modelDir, .modelDirectoryVariable(tree.modelDir), true),
        ]
        for (folder, expected, installed) in places {
            tree.put(slot, in: folder)
            let search = tree.search(environment, installedBinary: installed)
            let location = found(search)
            #expect(location?.path == folder + "/" + slot.fileName)
            #expect(location?.origin == .modelDirectory(expected))
            #expect(location?.origin.foundByDefault == true)
            // A file given by option, then by variable, wins over every folder; "none" means none.
            #expect(found(search, given: "/elsewhere/mine.onnx") == ModelLocation(slot: slot, path: "/elsewhere/mine.onnx", origin: .given("--option")))
            var withVariable = search
            withVariable.environment[key] = "/from/variable.onnx"
            #expect(found(withVariable)?.origin == .given(key))
            #expect(found(withVariable, given: "/elsewhere/mine.onnx")?.path == "/elsewhere/mine.onnx")
            #expect(found(search, given: "none") == nil)
            withVariable.environment[key] = "none"
            #expect(found(withVariable) == nil)
        }
    }

    @Test func aFileFoundByDefaultIsUsedOnlyIfItIsPinnedAndANamedOneAlways() throws {
        let tree = Tree()
        tree.put(.face, in: tree.modelDir, bytes: [UInt8](repeating: 7, count: 232_589))
        let search = tree.search(["SMARTCROP_MODEL_DIR": tree.modelDir])
        let location = try #require(search.locate(.face, given: nil, environmentKey: "UNSET_FOR_THE_TEST"))
        let mismatch = try #require(throws: ModelMismatch.self) { try location.verifiedBytes() }
        #expect(mismatch.description.contains(location.path))
        #expect(mismatch.description.contains("the embedded MTCNN is used"))
        #expect(mismatch.sha256 == PinnedModels.sha256Hex([UInt8](repeating: 7, count: 232_589)))
        // Named, the same file is read as it is (it is the caller's choice).
        let named = ModelLocation(slot: .face, path: location.path, origin: .given("--face-model"))
        #expect(try named.verifiedBytes().count == 232_589)

        // FaceModels and SubjectModels fall back to their embedded defaults, with the warning.
        let faces = try FaceModels(search: search)
        #expect(!faces.hasYuNet)
        #expect(faces.notes.count == 1 && faces.notes[0].contains(location.path))
        tree.put(.subject, in: tree.modelDir, bytes: Array("four bytes".utf8))
        let subject = try SubjectModels(loadNow: true, search: search)
        #expect(subject.location?.origin.foundByDefault == true)
        #expect(subject.source == "heuristic")
        #expect(subject.notes.count == 1 && subject.notes[0].contains("u2netp.onnx"))
    }

    @Test func pinnedFilesAreKnownBySizeThenDigest() {
        let bytes = [UInt8](repeating: 1, count: 10)
        let mine = PinnedModelFile(slot: .subject, name: "mine", byteCount: 10, sha256: PinnedModels.sha256Hex(bytes), url: nil)
        #expect(PinnedModels.identify(bytes, slot: .subject, among: [mine]) == mine)
        #expect(PinnedModels.identify(bytes, slot: .face, among: [mine]) == nil, "another slot")
        #expect(PinnedModels.identify(bytes + [0], slot: .subject, among: [mine]) == nil, "another size")
        var changed = bytes
        changed[3] = 2
        #expect(PinnedModels.identify(changed, slot: .subject, among: [mine]) == nil, "same size, other bytes")
        // The well-known digest of "abc", so the hex is right and not only self-consistent.
        #expect(PinnedModels.sha256Hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(PinnedModels.files(for: .subject).count == 2)
        #expect(PinnedModels.files(for: .face).allSatisfy { $0.url?.hasPrefix("https://") == true })
    }

    /// The pinned files beside the repository really are what the list says they are.
    @Test(arguments: ModelSlot.allCases)
    func theSharedModelsArePinned(slot: ModelSlot) throws {
        let shared = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../shared/models")
            .standardized.appendingPathComponent(slot.fileName).path
        guard let data = FileManager.default.contents(atPath: shared) else {
            print("note: \(shared) is absent; the pinned digest of the \(slot) model was not checked against a file")
            return
        }
        #expect(PinnedModels.identify([UInt8](data), slot: slot) != nil, "\(shared) is not in the pinned list")
    }
}
