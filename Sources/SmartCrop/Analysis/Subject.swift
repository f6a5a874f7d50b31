#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Saliency
import Synchronization

/// The subject model of a process: U-2-Netp from a file when one is configured or installed,
/// loaded and checked once and shared by every request. Without it, subject maps come from the
/// heuristic importance map, as they always did.
public final class SubjectModels: Sendable {
    /// The U-2-Netp file to use, and how it was chosen; nil for the heuristic map.
    public let location: ModelLocation?
    public var modelPath: String? { location?.path }
    /// The square input side asked for (when there is a model); a model whose input has a fixed
    /// size runs at that size instead (`SubjectModel.inputSize`).
    public let inputSize: Int?
    /// Whether `inputSize` was asked for (an option, setting or variable) rather than the default.
    private let inputSizeGiven: Bool
    private let loaded = Mutex<Result<SubjectModel?, SmartCropError>?>(nil)
    private let noteList = Mutex<[String]>([])

    /// The environment variables naming the model file ("none": the heuristic map) and its input size.
    public static let modelEnvironmentKey = "SMARTCROP_SUBJECT_MODEL"
    public static let sizeEnvironmentKey = "SMARTCROP_SUBJECT_SIZE"

    /// - Parameters:
    ///   - modelPath: path of u2netp.onnx ("none": the heuristic map), or nil to read
    ///     `SMARTCROP_SUBJECT_MODEL`, and then to look in the model folders (`ModelSearch`).
    ///   - inputSize: the square input side (a multiple of 32), or nil for `SMARTCROP_SUBJECT_SIZE`,
    ///     else `SubjectModel.defaultInputSize`.
    ///   - loadNow: read and check the model now (a server, before it takes requests); false
    ///     defers that to `load()` or first use (a one-shot command overlaps it with decoding).
    ///   - givenBy: how the caller names the option, for messages ("--subject-model").
    public init(modelPath: String? = nil, inputSize: Int? = nil, loadNow: Bool = true, givenBy: String = "subject_model",
                search: ModelSearch = ModelSearch()) throws {
        let environment = search.environment
        let location = search.locate(.subject, given: modelPath.map { ($0, givenBy) }, environmentKey: Self.modelEnvironmentKey)
        self.location = location
        guard location != nil else {
            self.inputSize = nil
            inputSizeGiven = false
            return
        }
        var size = SubjectModel.defaultInputSize
        var given = true
        if let inputSize {
            size = inputSize
        } else if let text = environment[Self.sizeEnvironmentKey], !text.isEmpty {
            guard let value = Int(text) else {
                throw SmartCropError.invalidArgument(field: "subject_size", message: "\(Self.sizeEnvironmentKey)=\(text) is not a number")
            }
            size = value
        } else {
            given = false
        }
        guard size % 32 == 0, (64...1024).contains(size) else {
            throw SmartCropError.invalidArgument(field: "subject_size", message: SubjectModelError.invalidInputSize(size).description)
        }
        self.inputSize = size
        inputSizeGiven = given
        if loadNow { try load() }
    }

    /// Reads and checks the model file, once; later calls return at once (or throw the same error).
    public func load() throws {
        _ = try model()
    }

    /// The loaded model, or nil when there is none (or the file found by default is not a
    /// known U-2-Netp file: see `notes`).
    func model() throws(SmartCropError) -> SubjectModel? {
        guard let location, let inputSize else { return nil }
        let result = loaded.withLock { cached in
            if let cached { return cached }
            let result = Result { () throws(SmartCropError) -> SubjectModel? in
                do {
                    let model = try Self.load(location, inputSize: inputSize)
                    if let requested = model.ignoredInputSize, inputSizeGiven {
                        note("\(location.path) takes only \(model.inputSize)x\(model.inputSize) inputs; the subject size \(requested) asked for is ignored")
                    }
                    return model
                } catch let mismatch as ModelMismatch {
                    note(mismatch.description)
                    return nil
                } catch let error as SmartCropError {
                    throw error
                } catch {
                    throw .io("cannot load the subject model: \(error)")
                }
            }
            cached = result
            return result
        }
        return try result.get()
    }

    private static func load(_ location: ModelLocation, inputSize: Int) throws -> SubjectModel {
        let bytes: [UInt8]
        do {
            bytes = try location.verifiedBytes()
        } catch let mismatch as ModelMismatch {
            throw mismatch
        } catch {
            throw SmartCropError.io("cannot read the subject model \(location.path) (\(location.origin)). \(SubjectModel.remedy)")
        }
        do {
            return try SubjectModel(model: bytes, name: location.path, inputSize: inputSize)
        } catch {
            throw SmartCropError.invalidArgument(field: "subject_model", message: error.description)
        }
    }

    private func note(_ text: String) { noteList.withLock { $0.append(text) } }

    /// What was got past while loading: a file found by default that is not a known U-2-Netp
    /// file (the heuristic map is used), or a subject size a fixed-size model cannot take.
    public var notes: [String] { noteList.withLock { $0 } }

    /// The model's input side once loaded: the size asked for, or the model's own fixed size.
    public var effectiveInputSize: Int? { (try? model())?.inputSize }

    /// No model, whatever the environment says: subject maps come from the heuristic map.
    public static let heuristic = SubjectModels(heuristicOnly: ())

    private init(heuristicOnly: Void) {
        location = nil
        inputSize = nil
        inputSizeGiven = false
    }

    /// "model" when U-2-Netp makes the subject maps, "heuristic" otherwise (this loads the model).
    public var source: String {
        let model = (try? model()) ?? nil
        return model == nil ? SubjectSource.heuristic.rawValue : SubjectSource.model.rawValue
    }

    private static let fromEnvironment: Result<SubjectModels, SmartCropError> = {
        do { return .success(try SubjectModels()) } catch let error as SmartCropError { return .failure(error) } catch {
            return .failure(.io("cannot load the subject model: \(error)"))
        }
    }()

    /// The model `SMARTCROP_SUBJECT_MODEL` names, or the one installed (none: the heuristic
    /// map), loaded once per process.
    public static func environmentDefault() throws -> SubjectModels { try fromEnvironment.get() }
}

/// Where a subject map came from.
public enum SubjectSource: String, Codable, Sendable {
    /// U-2-Netp's mask.
    case model
    /// The contrast-based importance map (ImportanceMapBuilder).
    case heuristic
    /// Not looked at: the faces pin the crop, so no subject map could move it
    /// (`FaceFraming.subjectCanMove`), and neither the model nor the heuristic map ran.
    case skipped
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
