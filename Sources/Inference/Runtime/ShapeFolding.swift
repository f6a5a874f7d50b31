// Shape subgraphs folded into constants. PyTorch exports `F.interpolate(x, size=y.shape[2:])`
// as Shape → Gather/Slice → Unsqueeze → Concat → Cast feeding a Resize's `sizes`: integer
// arithmetic on the sizes of tensors, computed at run time. For one input size every such value
// is a constant, so the importer evaluates them while it lowers the graph (tracking the shape of
// every runtime value), and a graph with free height and width compiles once per input size.

extension CompiledGraph {
    /// Operators that only ever compute on shapes and indices. They are folded when their inputs
    /// are constants (a `Shape` needs only its input's shape); anything else is refused.
    static let shapeOperators: Set<String> = ["Shape", "Gather", "Unsqueeze", "Squeeze", "Cast", "Slice", "Mul", "Div",
                                              "Sub", "Floor", "Ceil"]

    /// Whether the node can be folded now: a shape operator (or a Concat, Add, Mul…) all of
    /// whose inputs are constants, or a Shape of a value whose shape is known or needed.
    static func isFoldable(_ node: OnnxNode, constants: [String: OnnxTensor]) -> Bool {
        if node.opType == "Shape" { return true }
        let foldable = shapeOperators.contains(node.opType) || ["Concat", "Add"].contains(node.opType)
        return foldable && !node.inputs.isEmpty && node.inputs.allSatisfy { $0.isEmpty || constants[$0] != nil }
    }

    /// The node evaluated on its constant inputs. `shape(of:)` gives a runtime value's shape, or
    /// nil when the graph is being compiled without an input size.
    static func fold(_ node: OnnxNode, label: String, constants: [String: OnnxTensor], opset: Int,
                     shape: (String) -> [Int]?) throws(ModelLoadError) -> OnnxTensor {
        let a = NodeAttributes(node: node, label: label)
        func input(_ index: Int) throws(ModelLoadError) -> OnnxTensor {
            guard index < node.inputs.count, !node.inputs[index].isEmpty, let tensor = constants[node.inputs[index]] else {
                throw ModelLoadError(reason: "\(label) needs input \(index)")
            }
            return tensor
        }
        func optionalInts(_ index: Int) throws(ModelLoadError) -> [Int]? {
            guard index < node.inputs.count, !node.inputs[index].isEmpty else { return nil }
            return try input(index).integerValues(label)
        }
        var result: OnnxTensor
        switch node.opType {
        case "Shape":
            guard let dims = shape(node.inputs[0]) else {
                throw ModelLoadError(reason: "\(label) depends on the input size", needsInputSize: true)
            }
            // Opset 15 added start and end, with Python slice semantics.
            let start = clampedIndex(try a.int("start", default: 0), count: dims.count)
            let end = clampedIndex(try a.int("end", default: dims.count), count: dims.count)
            result = .integers(Array(dims[start..<max(start, end)]), dims: [max(0, end - start)])

        case "Gather":
            let data = try input(0)
            let values = data.values
            let indices = try input(1)
            let axis = try a.int("axis", default: 0)
            guard data.dims.count == 1, axis == 0 || axis == -1 else {
                throw ModelLoadError(reason: "\(label): only gathering from a 1-D constant is supported, got shape \(data.dims)")
            }
            var picked: [Double] = []
            for index in try indices.integerValues(label) {
                let i = index < 0 ? index + values.count : index
                guard values.indices.contains(i) else { throw ModelLoadError(reason: "\(label): index \(index) is out of range") }
                picked.append(values[i])
            }
            result = .like(data, picked, dims: indices.dims)

        case "Unsqueeze", "Squeeze":
            let data = try input(0)
            let axes = opset >= 13 ? (try optionalInts(1) ?? []) : (try a.ints("axes") ?? [])
            var dims = data.dims
            if node.opType == "Unsqueeze" {
                let rank = dims.count + axes.count
                for axis in axes.map({ $0 < 0 ? $0 + rank : $0 }).sorted() {
                    guard axis >= 0 && axis <= dims.count else { throw ModelLoadError(reason: "\(label): axis out of range") }
                    dims.insert(1, at: axis)
                }
            } else {
                let drop = Set(axes.map { $0 < 0 ? $0 + dims.count : $0 })
                dims = dims.enumerated().filter { axes.isEmpty ? $0.element != 1 : !drop.contains($0.offset) }.map(\.element)
            }
            result = data
            result.dims = dims

        case "Cast":
            let data = try input(0)
            let values = data.values
            switch OnnxDataType(rawValue: Int32(try a.int("to", default: 0))) {
            case .int64?, .int32?: result = .integers(values.map { Int($0.rounded(.towardZero)) }, dims: data.dims)
            case .float?, .double?: result = .floats(values.map { Float($0) }, dims: data.dims)
            case nil: throw ModelLoadError(reason: "\(label): casting to type \(try a.int("to", default: 0)) is not supported")
            }

        case "Concat":
            let parts = try node.inputs.indices.map { (i) throws(ModelLoadError) in try input(i) }
            guard parts.allSatisfy({ $0.dims.count <= 1 }) else {
                throw ModelLoadError(reason: "\(label): only 1-D constants can be concatenated at load time")
            }
            var values: [Double] = []
            for part in parts { values += part.values }
            result = .like(parts[0], values, dims: [values.count])
            if parts.contains(where: \.isFloat) { result = .floats(values.map { Float($0) }, dims: [values.count]) }

        case "Slice":
            let data = try input(0)
            let values = data.values
            guard data.dims.count == 1 else {
                throw ModelLoadError(reason: "\(label): only slicing a 1-D constant is supported, got shape \(data.dims)")
            }
            // Opset 10+: starts, ends, axes, steps are inputs; before, attributes.
            let starts = opset >= 10 ? try input(1).integerValues(label) : (try a.ints("starts") ?? [])
            let ends = opset >= 10 ? try input(2).integerValues(label) : (try a.ints("ends") ?? [])
            let axes = opset >= 10 ? (try optionalInts(3) ?? [0]) : (try a.ints("axes") ?? [0])
            let steps = opset >= 10 ? (try optionalInts(4) ?? [1]) : [1]
            guard starts.count == 1, ends.count == 1, axes == [0] || axes == [-1], steps.count == 1, steps[0] != 0 else {
                throw ModelLoadError(reason: "\(label): only a slice of the one axis is supported")
            }
            let n = values.count, step = steps[0]
            func bound(_ v: Int, _ low: Int, _ high: Int) -> Int { min(max(v < 0 ? v + n : v, low), high) }
            var picked: [Double] = []
            if step > 0 {
                var i = bound(starts[0], 0, n)
                let end = bound(ends[0], 0, n)
                while i < end { picked.append(values[i]); i += step }
            } else {
                var i = bound(starts[0], 0, n - 1)
                let end = bound(ends[0], -1, n - 1)
                while i > end { picked.append(values[i]); i += step }
            }
            result = .like(data, picked, dims: [picked.count])

        case "Add", "Sub", "Mul", "Div":
            let x = try input(0), y = try input(1)
            let xs = x.values, ys = y.values
            guard xs.count == ys.count || xs.count == 1 || ys.count == 1 else {
                throw ModelLoadError(reason: "\(label): constants of shapes \(x.dims) and \(y.dims) are not supported")
            }
            let integer = !x.isFloat && !y.isFloat
            let count = max(xs.count, ys.count)
            let values = (0..<count).map { i -> Double in
                let p = xs[xs.count == 1 ? 0 : i], q = ys[ys.count == 1 ? 0 : i]
                switch node.opType {
                case "Add": return p + q
                case "Sub": return p - q
                case "Mul": return p * q
                default: return integer ? (q == 0 ? 0 : (p / q).rounded(.down)) : p / q
                }
            }
            let dims = xs.count >= ys.count ? x.dims : y.dims
            result = integer ? .integers(values.map { Int($0) }, dims: dims) : .floats(values.map { Float($0) }, dims: dims)

        case "Floor", "Ceil":
            let x = try input(0)
            let values = x.values.map { node.opType == "Floor" ? $0.rounded(.down) : $0.rounded(.up) }
            result = .like(x, values, dims: x.dims)

        default:
            throw ModelLoadError(reason: "\(label) can't be evaluated at load time")
        }
        result.name = node.outputs[0]
        return result
    }

    private static func clampedIndex(_ index: Int, count: Int) -> Int {
        min(max(index < 0 ? index + count : index, 0), count)
    }
}

extension OnnxTensor {
    var isFloat: Bool { dataType == OnnxDataType.float.rawValue || dataType == OnnxDataType.double.rawValue }

    static func integers(_ values: [Int], dims: [Int]) -> OnnxTensor {
        OnnxTensor(name: "", dims: dims, dataType: OnnxDataType.int64.rawValue, floats: [], integers: values)
    }

    static func floats(_ values: [Float], dims: [Int]) -> OnnxTensor {
        OnnxTensor(name: "", dims: dims, dataType: OnnxDataType.float.rawValue, floats: values, integers: [])
    }

    /// A tensor of `template`'s element type holding `values`.
    static func like(_ template: OnnxTensor, _ values: [Double], dims: [Int]) -> OnnxTensor {
        template.isFloat ? .floats(values.map { Float($0) }, dims: dims) : .integers(values.map { Int($0) }, dims: dims)
    }

    /// The values as doubles, whatever the element type.
    var values: [Double] { isFloat ? floats.map { Double($0) } : integers.map { Double($0) } }

    func integerValues(_ label: String) throws(ModelLoadError) -> [Int] {
        guard !isFloat else { throw ModelLoadError(reason: "\(label): expected an integer tensor, \(name) holds floats") }
        return integers
    }
}
