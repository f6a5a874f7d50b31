#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Saliency
import Synchronization

/// The subject model of a process: U-2-Netp from a file when one is configured, loaded and
/// checked once and shared by every request. Without it, subject maps come from the heuristic
/// importance map, as they always did.
public final class SubjectModels: Sendable {
    public let modelPath: String?
    /// The model's square input side (when there is a model).
    public let inputSize: Int?
    private let loaded = Mutex<Result<SubjectModel, SmartCropError>?>(nil)

    /// The environment variables naming the model file and its input size.
    public static let modelEnvironmentKey = "SMARTCROP_SUBJECT_MODEL"
    public static let sizeEnvironmentKey = "SMARTCROP_SUBJECT_SIZE"

    /// - Parameters:
    ///   - modelPath: path of u2netp.onnx, or nil to read `SMARTCROP_SUBJECT_MODEL` (and use the
    ///     heuristic map when that is unset too).
    ///   - inputSize: the square input side (a multiple of 32), or nil for `SMARTCROP_SUBJECT_SIZE`,
    ///     else `SubjectModel.defaultInputSize`.
    ///   - loadNow: read and check the model now (a server, before it takes requests); false
    ///     defers that to `load()` or first use (a one-shot command overlaps it with decoding).
    public init(modelPath: String? = nil, inputSize: Int? = nil, loadNow: Bool = true) throws {
        let environment = ProcessInfo.processInfo.environment
        let path = modelPath ?? environment[Self.modelEnvironmentKey].flatMap { $0.isEmpty ? nil : $0 }
        self.modelPath = path
        guard path != nil else {
            self.inputSize = nil
            return
        }
        var size = SubjectModel.defaultInputSize
        if let inputSize {
            size = inputSize
        } else if let text = environment[Self.sizeEnvironmentKey], !text.isEmpty {
            guard let value = Int(text) else {
                throw SmartCropError.invalidArgument(field: "subject_size", message: "\(Self.sizeEnvironmentKey)=\(text) is not a number")
            }
            size = value
        }
        guard size % 32 == 0, (64...1024).contains(size) else {
            throw SmartCropError.invalidArgument(field: "subject_size", message: SubjectModelError.invalidInputSize(size).description)
        }
        self.inputSize = size
        if loadNow { try load() }
    }

    /// Reads and checks the model file, once; later calls return at once (or throw the same error).
    public func load() throws {
        _ = try model()
    }

    /// The loaded model, or nil when there is none.
    func model() throws(SmartCropError) -> SubjectModel? {
        guard let path = modelPath, let inputSize else { return nil }
        let result = loaded.withLock { cached in
            if let cached { return cached }
            let result = Result { () throws(SmartCropError) in try Self.load(path, inputSize: inputSize) }
            cached = result
            return result
        }
        return try result.get()
    }

    private static func load(_ path: String, inputSize: Int) throws(SmartCropError) -> SubjectModel {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .io("cannot read the subject model \(path). \(SubjectModel.remedy)")
        }
        do {
            return try SubjectModel(model: [UInt8](data), name: path, inputSize: inputSize)
        } catch {
            throw .invalidArgument(field: "subject_model", message: error.description)
        }
    }

    /// No model, whatever the environment says: subject maps come from the heuristic map.
    public static let heuristic = SubjectModels(heuristicOnly: ())

    private init(heuristicOnly: Void) {
        modelPath = nil
        inputSize = nil
    }

    /// "model" when U-2-Netp makes the subject maps, "heuristic" otherwise.
    public var source: String { modelPath == nil ? SubjectSource.heuristic.rawValue : SubjectSource.model.rawValue }

    private static let fromEnvironment: Result<SubjectModels, SmartCropError> = {
        do { return .success(try SubjectModels()) } catch let error as SmartCropError { return .failure(error) } catch {
            return .failure(.io("cannot load the subject model: \(error)"))
        }
    }()

    /// The model `SMARTCROP_SUBJECT_MODEL` names (none when unset), loaded once per process.
    public static func environmentDefault() throws -> SubjectModels { try fromEnvironment.get() }
}

/// Where a subject map came from.
public enum SubjectSource: String, Codable, Sendable {
    /// U-2-Netp's mask.
    case model
    /// The contrast-based importance map (ImportanceMapBuilder).
    case heuristic
}

/// A subject map and where it came from.
struct SubjectMap {
    var map: ImportanceMap
    var source: SubjectSource

    /// How the crop search reads the map: the model's mask by its mass alone, the window holding
    /// the most of it (its edges are the object's, so neither soft margins nor regions are
    /// needed); the heuristic map with the margin and regions measured for it.
    var searchOptions: SubjectLocator.Options {
        guard source == .model else { return SubjectLocator.Options() }
        var options = SubjectLocator.Options()
        options.margin = 0
        options.outsideRegionWeight = 1
        return options
    }
}
