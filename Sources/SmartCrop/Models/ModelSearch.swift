#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Where a model file in use came from.
public enum ModelOrigin: Sendable, Equatable, CustomStringConvertible {
    /// Named by the caller: a command-line option, a setting or its environment variable.
    case given(String)
    /// Found by default in one of the model folders, in `ModelSearch`'s order.
    case modelDirectory(ModelSearch.Folder)

    public var foundByDefault: Bool {
        if case .modelDirectory = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .given(let how): "given by \(how)"
        case .modelDirectory(let folder): "found in \(folder.description)"
        }
    }
}

/// A model file to use, and how it was chosen.
public struct ModelLocation: Sendable, Equatable {
    public let slot: ModelSlot
    public let path: String
    public let origin: ModelOrigin
}

/// Where the binaries look for model files when no option, setting or variable names one:
/// `$SMARTCROP_MODEL_DIR`, the user's data folder (`$XDG_DATA_HOME/smartcrop/models`, by default
/// `~/.local/share/smartcrop/models`), the installation's `<bin>/../share/smartcrop/models`, and
/// `.assets/models` of the checkout a development build runs from. The first folder holding the
/// slot's file wins; a file found this way is used only if it is one of `PinnedModels`.
public struct ModelSearch: Sendable {
    public enum Folder: Sendable, Equatable, CustomStringConvertible {
        case modelDirectoryVariable(String)
        case userData(String)
        case installation(String)
        case developmentCheckout(String)

        public var path: String {
            switch self {
            case .modelDirectoryVariable(let p), .userData(let p), .installation(let p), .developmentCheckout(let p): p
            }
        }

        public var description: String {
            switch self {
            case .modelDirectoryVariable(let p): "$\(ModelSearch.modelDirectoryKey) (\(p))"
            case .userData(let p): "the user data folder (\(p))"
            case .installation(let p): "the installation's share folder (\(p))"
            case .developmentCheckout(let p): "the development checkout's .assets/models (\(p))"
            }
        }
    }

    public static let modelDirectoryKey = "SMARTCROP_MODEL_DIR"
    /// The value of an option, setting or variable that turns a slot's model off, even when a
    /// file would be found by default.
    public static let none = "none"

    public var environment: [String: String]
    /// The running binary; its folder locates the installation's and the checkout's models.
    public var executablePath: String?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment,
                executablePath: String? = ModelSearch.runningExecutable) {
        self.environment = environment
        self.executablePath = executablePath
    }

    /// The folders searched, in order; those that cannot be named here are left out.
    public var folders: [Folder] {
        var folders: [Folder] = []
        if let dir = value(Self.modelDirectoryKey) { folders.append(.modelDirectoryVariable(dir)) }
        if let data = value("XDG_DATA_HOME") {
            folders.append(.userData(data + "/smartcrop/models"))
        } else if let home = value("HOME") {
            folders.append(.userData(home + "/.local/share/smartcrop/models"))
        }
        if let executablePath {
            let bin = Self.parent(executablePath)
            folders.append(.installation(Self.parent(bin) + "/share/smartcrop/models"))
            // .build/release/smartcrop, .build/x86_64-unknown-linux-gnu/debug/smartcrop, .build-x/…
            let parts = bin.split(separator: "/", omittingEmptySubsequences: false)
            if let build = parts.lastIndex(where: { $0 == ".build" || $0.hasPrefix(".build-") || $0.hasPrefix(".build_") }), build > 0 {
                folders.append(.developmentCheckout(parts[..<build].joined(separator: "/") + "/.assets/models"))
            }
        }
        return folders
    }

    /// The file for `slot`: `given` (an option or setting) wins, then `environmentKey`, then the
    /// first folder holding the slot's file. Nil when there is none, or when the one given is "none".
    public func locate(_ slot: ModelSlot, given: (value: String, how: String)?, environmentKey: String) -> ModelLocation? {
        if let given, !given.value.isEmpty {
            return given.value == Self.none ? nil : ModelLocation(slot: slot, path: given.value, origin: .given(given.how))
        }
        if let named = value(environmentKey) {
            return named == Self.none ? nil : ModelLocation(slot: slot, path: named, origin: .given(environmentKey))
        }
        for folder in folders {
            let path = folder.path + "/" + slot.fileName
            if FileManager.default.fileExists(atPath: path) { return ModelLocation(slot: slot, path: path, origin: .modelDirectory(folder)) }
        }
        return nil
    }

    private func value(_ key: String) -> String? {
        guard let value = environment[key], !value.isEmpty else { return nil }
        return value
    }

    private static func parent(_ path: String) -> String {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropLast()
        let joined = parts.joined(separator: "/")
        return joined.isEmpty ? (path.hasPrefix("/") ? "/" : ".") : joined
    }

    /// The running binary's path (`/proc/self/exe`, so a bare name found on PATH is resolved too).
    public static var runningExecutable: String? {
        #if os(Linux)
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBufferPointer { readlink("/proc/self/exe", UnsafeMutableRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), 4095) }
        if n > 0 { return String(decoding: buffer[0..<n], as: UTF8.self) }
        #endif
        return CommandLine.arguments.first
    }
}

/// Why a model file found by default is not used.
public struct ModelMismatch: Error, Sendable, Equatable, CustomStringConvertible {
    public let location: ModelLocation
    public let byteCount: Int
    public let sha256: String

    public var description: String {
        let known = PinnedModels.files(for: location.slot).map { "\($0.name), \($0.byteCount) bytes" }.joined(separator: "; ")
        return "\(location.path) (\(location.origin)) is not a known \(location.slot) model file (\(byteCount) bytes, sha256 "
            + "\(sha256); known: \(known)), "
            + "so \(location.slot.embeddedDefault) is used. Run `smartcrop models fetch` to replace it, or name a file of your "
            + "own with its option or variable."
    }
}

extension ModelLocation {
    /// The file's bytes when it may be used: any file that was named, and a file found by
    /// default only when it is one of `PinnedModels` (checked by size, then sha256).
    public func verifiedBytes() throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SmartCropError.io("cannot read the \(slot) model \(path)")
        }
        let bytes = [UInt8](data)
        if origin.foundByDefault, PinnedModels.identify(bytes, slot: slot) == nil {
            throw ModelMismatch(location: self, byteCount: bytes.count, sha256: PinnedModels.sha256Hex(bytes))
        }
        return bytes
    }
}
