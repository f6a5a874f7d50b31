#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A parsed JSON value. Operations are read from this rather than through synthesised
/// `Decodable`, so that every problem can name its exact field, e.g. `operations[2].fit`.
public enum JSONValue: Sendable, Equatable, Codable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let budget = decoder.userInfo[JSONBudget.key] as? JSONBudget
        try budget?.spend()
        // Most likely kinds first: every wrong guess costs a thrown DecodingError.
        if let object = try? decoder.container(keyedBy: AnyKey.self) {
            if let budget, object.allKeys.count > budget.limits.maxObjectKeys {
                throw JSONLimitExceeded(path: decoder.codingPath, message: "holds \(object.allKeys.count) fields; the limit is \(budget.limits.maxObjectKeys)")
            }
            var fields: [String: JSONValue] = [:]
            for key in object.allKeys { fields[key.stringValue] = try object.decode(JSONValue.self, forKey: key) }
            self = .object(fields)
            return
        }
        if var array = try? decoder.unkeyedContainer() {
            // The count is known before any item is decoded, so a huge list costs nothing.
            if let budget, let count = array.count, count > budget.limits.maxArrayItems {
                throw JSONLimitExceeded(path: decoder.codingPath, message: "holds \(count) \(budget.limits.itemName); the limit is \(budget.limits.maxArrayItems)")
            }
            var items: [JSONValue] = []
            while !array.isAtEnd { items.append(try array.decode(JSONValue.self)) }
            self = .array(items)
            return
        }
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let s = try? container.decode(String.self) { self = .string(s) }
        else if let n = try? container.decode(Double.self) { self = .number(n) }
        else { self = .bool(try container.decode(Bool.self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let b): try container.encode(b)
        case .number(let n):
            if n.rounded() == n, abs(n) < 1e15 { try container.encode(Int64(n)) } else { try container.encode(n) }
        case .string(let s): try container.encode(s)
        case .array(let a): try container.encode(a)
        case .object(let o): try container.encode(o)
        }
    }

    /// Parses JSON text; a syntax error becomes an invalid-argument error on `field`. Parsing
    /// stops as soon as `limits` are passed, so a hostile document costs about one scan of
    /// its bytes.
    public static func parse(_ data: Data, field: String, limits: JSONLimits = JSONLimits()) throws -> JSONValue {
        if data.count > limits.maxBytes {
            throw SmartCropError.tooLarge("\(field) is \(data.count) bytes of JSON; the limit is \(limits.maxBytes)")
        }
        let decoder = JSONDecoder()
        decoder.userInfo[JSONBudget.key] = JSONBudget(limits)
        do {
            return try decoder.decode(JSONValue.self, from: data)
        } catch let error as JSONLimitExceeded {
            let path = error.path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            let name = path.isEmpty ? field : (path.hasPrefix(".") ? String(path.dropFirst()) : path)
            throw SmartCropError.invalidArgument(field: name, message: error.message)
        } catch {
            throw SmartCropError.invalidArgument(field: field, message: "is not valid JSON")
        }
    }

    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// How much JSON one document may hold. Requests carry a few dozen values (or one big base64
/// string), so these only ever stop hostile or broken input.
public struct JSONLimits: Sendable {
    public var maxBytes: Int
    /// Per array: more operations or variants than any limit allows is refused at once.
    public var maxArrayItems: Int
    public var maxObjectKeys: Int
    /// Values in the whole document.
    public var maxValues: Int
    /// What the arrays hold, for messages ("holds 31 operations").
    public var itemName: String

    public init(maxBytes: Int = Int.max, maxArrayItems: Int = 1000, maxObjectKeys: Int = 1000, maxValues: Int = 100_000,
                itemName: String = "items") {
        self.maxBytes = maxBytes
        self.maxArrayItems = maxArrayItems
        self.itemName = itemName
        self.maxObjectKeys = maxObjectKeys
        self.maxValues = maxValues
    }
}

/// What is left of a document's `JSONLimits` while it is decoded.
private final class JSONBudget: @unchecked Sendable {
    static let key = CodingUserInfoKey(rawValue: "smartcrop.json-budget")!
    let limits: JSONLimits
    private var values = 0

    init(_ limits: JSONLimits) { self.limits = limits }

    func spend() throws {
        values += 1
        if values > limits.maxValues {
            throw JSONLimitExceeded(path: [], message: "holds more than \(limits.maxValues) JSON values")
        }
    }
}

private struct JSONLimitExceeded: Error {
    let path: [CodingKey]
    let message: String
}

private struct AnyKey: CodingKey {
    let stringValue: String
    let intValue: Int? = nil
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { return nil }
}

/// Reads the fields of one JSON object, recording which were used so that unknown (usually
/// misspelt) fields are refused instead of silently ignored. Each field may have aliases:
/// the tool form's camelCase names next to our snake_case ones.
struct FieldReader {
    let path: String
    private let object: [String: JSONValue]
    private var used: Set<String> = []

    init(_ value: JSONValue, path: String) throws {
        guard case .object(let object) = value else {
            throw SmartCropError.invalidArgument(field: path, message: "must be an object, got \(value.typeName)")
        }
        self.object = object
        self.path = path
    }

    func field(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }

    private mutating func take(_ names: [String]) throws -> (String, JSONValue)? {
        let present = names.filter { object[$0] != nil }
        used.formUnion(present)
        if present.count > 1 {
            throw SmartCropError.invalidArgument(field: field(present[1]), message: "duplicates \(present[0]); give only one")
        }
        guard let name = present.first, let value = object[name] else { return nil }
        if case .null = value { return nil }
        return (name, value)
    }

    mutating func has(_ names: String...) -> Bool { names.contains { object[$0] != nil } }

    mutating func int(_ names: String..., in range: ClosedRange<Int>) throws -> Int? {
        try int(names, in: range)
    }

    mutating func requiredInt(_ names: String..., in range: ClosedRange<Int>) throws -> Int {
        guard let value = try int(names, in: range) else {
            throw SmartCropError.invalidArgument(field: field(names[0]), message: "is required")
        }
        return value
    }

    private mutating func int(_ names: [String], in range: ClosedRange<Int>) throws -> Int? {
        guard let (name, value) = try take(names) else { return nil }
        guard case .number(let n) = value, n.rounded() == n, abs(n) < 1e12 else {
            throw SmartCropError.invalidArgument(field: field(name), message: "must be an integer between \(range.lowerBound) and \(range.upperBound)")
        }
        guard range.contains(Int(n)) else {
            throw SmartCropError.invalidArgument(field: field(name), message: "must be between \(range.lowerBound) and \(range.upperBound), got \(Int(n))")
        }
        return Int(n)
    }

    mutating func double(_ names: String..., in range: ClosedRange<Double>) throws -> Double? {
        guard let (name, value) = try take(names) else { return nil }
        guard case .number(let n) = value, n.isFinite else {
            throw SmartCropError.invalidArgument(field: field(name), message: "must be a number between \(format(range.lowerBound)) and \(format(range.upperBound))")
        }
        guard range.contains(n) else {
            throw SmartCropError.invalidArgument(field: field(name), message: "must be between \(format(range.lowerBound)) and \(format(range.upperBound)), got \(format(n))")
        }
        return n
    }

    mutating func bool(_ names: String...) throws -> Bool? {
        guard let (name, value) = try take(names) else { return nil }
        guard case .bool(let b) = value else {
            throw SmartCropError.invalidArgument(field: field(name), message: "must be true or false")
        }
        return b
    }

    mutating func string(_ names: String...) throws -> String? {
        guard let (name, value) = try take(names) else { return nil }
        guard case .string(let s) = value else {
            throw SmartCropError.invalidArgument(field: field(name), message: "must be a string, got \(value.typeName)")
        }
        return s
    }

    /// A string that must be one of `choices` (after `aliases` are applied).
    mutating func choice(_ names: String..., choices: [String], aliases: [String: String] = [:]) throws -> String? {
        guard let (name, value) = try take(names) else { return nil }
        guard case .string(let raw) = value else {
            throw SmartCropError.invalidArgument(field: field(name), message: "must be one of \(choices.joined(separator: ", "))")
        }
        let s = raw.lowercased()
        let resolved = aliases[s] ?? s
        guard choices.contains(resolved) else {
            throw SmartCropError.invalidArgument(field: field(name), message: "must be one of \(choices.joined(separator: ", ")); got \"\(raw)\"")
        }
        return resolved
    }

    mutating func colour(_ names: String...) throws -> Colour? {
        guard let (name, value) = try take(names) else { return nil }
        guard case .string(let s) = value, let colour = Colour(parsing: s) else {
            throw SmartCropError.invalidArgument(field: field(name), message: "must be a colour such as \"#ffffff\" or \"white\"")
        }
        return colour
    }

    mutating func object(_ names: String...) throws -> FieldReader? {
        guard let (name, value) = try take(names) else { return nil }
        return try FieldReader(value, path: field(name))
    }

    /// Refuses fields nobody asked for.
    func finish() throws {
        if let unknown = object.keys.filter({ !used.contains($0) }).sorted().first {
            throw SmartCropError.invalidArgument(field: field(unknown), message: "is not a known field")
        }
    }

    private func format(_ d: Double) -> String {
        d.rounded() == d && abs(d) < 1e12 ? String(Int(d)) : String(d)
    }
}
