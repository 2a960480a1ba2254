import Foundation
import GraftModels
import GraftNN
import GraftTensor
import SwiftProtobuf

/// ONNX export of Graft's architectures, as `torch.onnx.export` lays them out: one node per layer,
/// initializers named by the `state_dict` keys (`layer1.0.conv1.weight`, `layer1.0.bn1.running_mean`),
/// BatchNorm kept as `BatchNormalization` nodes (a runtime folds them), Dropout left out (eval
/// mode). The input `input` is `[batch, 3, H, W]` and the output `logits` `[batch, classes]`, with
/// a symbolic batch axis. A ResNet's spatial axes are symbolic too (its global average pool takes
/// any size); the vanilla CNN's are fixed at the card's input size, because its adaptive 2×2 pool
/// becomes fixed windows.
public enum ONNXExport {
    /// The operator set the graphs use: ONNX 1.8's, read by every current runtime.
    public static let opsetVersion: Int64 = 13
    /// The IR version that goes with opset 13.
    public static let irVersion: Int64 = 7

    /// The model as an `onnx.ModelProto`, with the card in `metadata_props`.
    /// - Throws: `ExportError.unsupportedLayer` for a layer ONNX cannot express here.
    public static func model(_ exportable: ExportableModel) throws -> Onnx_ModelProto {
        let card = exportable.card
        var builder = GraphBuilder(architecture: card.architecture.rawValue)
        let fixedSpatial = card.architecture.resNetDepth == nil
        let height = card.inputSize.count == 3 ? card.inputSize[1] : 224
        let width = card.inputSize.count == 3 ? card.inputSize[2] : 224
        var x = Value(name: "input", size: fixedSpatial ? (height, width) : nil)
        switch exportable.model {
        case let resnet as ResNet:
            x = try builder.resNet(resnet, x)
        case let cnn as VanillaCNN:
            x = try builder.module(cnn.features, key: "features", x)
            x = try builder.module(cnn.pool, key: "pool", x)
            x = try builder.module(cnn.classifier, key: "classifier", x)
        case let other:
            throw ExportError.unsupportedLayer(
                architecture: card.architecture.rawValue, layer: "\(type(of: other))", reason: "no ONNX layout")
        }
        builder.rename(x.name, to: "logits")

        var graph = Onnx_GraphProto()
        graph.name = card.modelID
        graph.node = builder.nodes
        graph.initializer = builder.initializers
        graph.input = [
            valueInfo(
                "input",
                dims: [.symbolic("batch"), .fixed(Int64(card.inputSize.first ?? 3))]
                    + (fixedSpatial
                        ? [.fixed(Int64(height)), .fixed(Int64(width))] : [.symbolic("height"), .symbolic("width")]))
        ]
        graph.output = [valueInfo("logits", dims: [.symbolic("batch"), .fixed(Int64(card.numClasses))])]

        var model = Onnx_ModelProto()
        model.irVersion = irVersion
        model.producerName = "graft"
        model.producerVersion = "1"
        model.domain = "graft"
        model.modelVersion = 1
        model.docString = "\(card.architecture.rawValue) exported by graft export"
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = opsetVersion
        model.opsetImport = [opset]
        model.graph = graph
        model.metadataProps = card.metadata.sorted { $0.key < $1.key }.map { key, value in
            var entry = Onnx_StringStringEntryProto()
            entry.key = key
            entry.value = value
            return entry
        }
        return model
    }

    /// `model(_:)` serialised: the bytes of an `.onnx` file.
    public static func serializedModel(_ exportable: ExportableModel) throws -> Data {
        try model(exportable).serializedData()
    }

    enum Dimension {
        case fixed(Int64)
        case symbolic(String)
    }

    static func valueInfo(_ name: String, dims: [Dimension]) -> Onnx_ValueInfoProto {
        var shape = Onnx_TensorShapeProto()
        shape.dim = dims.map { d in
            var dim = Onnx_TensorShapeProto.Dimension()
            switch d {
            case .fixed(let v): dim.dimValue = v
            case .symbolic(let s): dim.dimParam = s
            }
            return dim
        }
        var tensorType = Onnx_TypeProto.Tensor()
        tensorType.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensorType.shape = shape
        var type = Onnx_TypeProto()
        type.tensorType = tensorType
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type = type
        return info
    }
}

/// A value flowing through the graph, with its spatial size when the input's is fixed.
struct Value {
    var name: String
    var size: (height: Int, width: Int)?
}

/// Emits nodes and initializers, one layer at a time.
struct GraphBuilder {
    let architecture: String
    private(set) var nodes: [Onnx_NodeProto] = []
    private(set) var initializers: [Onnx_TensorProto] = []

    init(architecture: String) { self.architecture = architecture }

    /// Emits one node; its single output is named after the node.
    private mutating func node(
        _ op: String, name: String, _ inputs: [String], _ attributes: [Onnx_AttributeProto] = []
    ) -> String {
        var node = Onnx_NodeProto()
        node.opType = op
        node.name = name
        node.input = inputs
        node.output = [name]
        node.attribute = attributes
        nodes.append(node)
        return name
    }

    /// Renames the last node's output (the graph's output gets a fixed name).
    mutating func rename(_ output: String, to name: String) {
        guard let i = nodes.lastIndex(where: { $0.output.contains(output) }) else { return }
        nodes[i].output = nodes[i].output.map { $0 == output ? name : $0 }
    }

    private mutating func initializer(_ name: String, _ tensor: Tensor) -> String {
        var proto = Onnx_TensorProto()
        proto.name = name
        proto.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        proto.dims = tensor.shape.map(Int64.init)
        var data = Data(capacity: tensor.count * 4)
        tensor.withUnsafeBufferPointer { buffer in
            #if _endian(big)
            for x in buffer { withUnsafeBytes(of: x.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
            #else
            data.append(buffer)
            #endif
        }
        proto.rawData = data
        initializers.append(proto)
        return name
    }

    private mutating func int64Initializer(_ name: String, _ values: [Int64]) -> String {
        var proto = Onnx_TensorProto()
        proto.name = name
        proto.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
        proto.dims = [Int64(values.count)]
        proto.int64Data = values
        initializers.append(proto)
        return name
    }

    private static func ints(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .ints
        a.ints = values.map(Int64.init)
        return a
    }

    private static func int(_ name: String, _ value: Int) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .int
        a.i = Int64(value)
        return a
    }

    private static func float(_ name: String, _ value: Float) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .float
        a.f = value
        return a
    }

    /// torchvision's `ResNet.forward`: conv1, bn1, relu, maxpool, layer1…layer4, avgpool,
    /// flatten, fc.
    mutating func resNet(_ net: ResNet, _ input: Value) throws -> Value {
        var x = input
        for (name, child) in net.children where name != "fc" {
            x = try module(child, key: name, x)
        }
        x = Value(name: node("Flatten", name: "flatten", [x.name], [Self.int("axis", 1)]), size: nil)
        return try module(net.fc, key: "fc", x)
    }

    /// One layer, or a container's layers in order, named by its `state_dict` prefix.
    mutating func module(_ module: Module, key: String, _ x: Value) throws -> Value {
        switch module {
        case let conv as Conv2d:
            let g = conv.geometry
            var inputs = [x.name, initializer("\(key).weight", conv.weight.value)]
            if let bias = conv.bias { inputs.append(initializer("\(key).bias", bias.value)) }
            let out = node(
                "Conv", name: key, inputs,
                [
                    Self.ints("kernel_shape", [g.kernel, g.kernel]), Self.ints("strides", [g.stride, g.stride]),
                    Self.ints("pads", [g.padding, g.padding, g.padding, g.padding]),
                    Self.ints("dilations", [1, 1]), Self.int("group", 1),
                ])
            return Value(name: out, size: x.size.map { g.outputSize($0.height, $0.width) })
        case let bn as BatchNorm2d:
            guard case .float(let mean) = bn.runningMean.value, case .float(let variance) = bn.runningVar.value else {
                throw ExportError.unsupportedLayer(
                    architecture: architecture, layer: key, reason: "running statistics are not float32")
            }
            let out = node(
                "BatchNormalization", name: key,
                [
                    x.name, initializer("\(key).weight", bn.weight.value), initializer("\(key).bias", bn.bias.value),
                    initializer("\(key).running_mean", mean), initializer("\(key).running_var", variance),
                ],
                [Self.float("epsilon", bn.eps), Self.float("momentum", 1 - bn.momentum)])
            return Value(name: out, size: x.size)
        case is ReLU:
            return Value(name: node("Relu", name: key, [x.name]), size: x.size)
        case let pool as MaxPool2d:
            let (k, s, p) = (pool.kernel, pool.stride, pool.padding)
            let out = node(
                "MaxPool", name: key, [x.name],
                [
                    Self.ints("kernel_shape", [k, k]), Self.ints("strides", [s, s]),
                    Self.ints("pads", [p, p, p, p]),
                ])
            return Value(
                name: out, size: x.size.map { ((($0.height + 2 * p - k) / s) + 1, (($0.width + 2 * p - k) / s) + 1) })
        case let pool as AdaptiveAvgPool2d:
            return try adaptiveAveragePool(pool, key: key, x)
        case is Flatten:
            return Value(name: node("Flatten", name: key, [x.name], [Self.int("axis", 1)]), size: nil)
        case is Dropout:
            return x  // the identity in eval mode
        case let linear as Linear:
            // PyTorch's Linear is x·Wᵀ + b: Gemm with transB.
            var inputs = [x.name, initializer("\(key).weight", linear.weight.value)]
            if let bias = linear.bias { inputs.append(initializer("\(key).bias", bias.value)) }
            let out = node(
                "Gemm", name: key, inputs, [Self.float("alpha", 1), Self.float("beta", 1), Self.int("transB", 1)])
            return Value(name: out, size: nil)
        case let block as BasicBlock:
            return try basicBlock(block, key: key, x)
        case let sequential as Sequential:
            var y = x
            for (i, layer) in sequential.layers.enumerated() { y = try self.module(layer, key: "\(key).\(i)", y) }
            return y
        default:
            throw ExportError.unsupportedLayer(
                architecture: architecture, layer: key, reason: "no ONNX operator for \(type(of: module))")
        }
    }

    /// torchvision's `BasicBlock.forward`: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)).
    private mutating func basicBlock(_ block: BasicBlock, key: String, _ x: Value) throws -> Value {
        var y = try module(block.conv1, key: "\(key).conv1", x)
        y = try module(block.bn1, key: "\(key).bn1", y)
        y = Value(name: node("Relu", name: "\(key).relu1", [y.name]), size: y.size)
        y = try module(block.conv2, key: "\(key).conv2", y)
        y = try module(block.bn2, key: "\(key).bn2", y)
        var identity = x
        if let downsample = block.downsample { identity = try module(downsample, key: "\(key).downsample", x) }
        let sum = node("Add", name: "\(key).add", [y.name, identity.name])
        return Value(name: node("Relu", name: "\(key).relu", [sum]), size: y.size)
    }

    /// PyTorch's `AdaptiveAvgPool2d`: output cell (i, j) averages rows ⌊i·H/h⌋ ..< ⌈(i+1)·H/h⌉ and
    /// the same for columns. To 1×1 it is `GlobalAveragePool` (any input size); where the output
    /// divides the input, equal windows make it an `AveragePool`; otherwise each cell is a `Slice`
    /// and a `ReduceMean`, joined by `Concat`. Those two need a fixed input size.
    private mutating func adaptiveAveragePool(_ pool: AdaptiveAvgPool2d, key: String, _ x: Value) throws -> Value {
        let (oh, ow) = (pool.outputHeight, pool.outputWidth)
        if oh == 1 && ow == 1 {
            return Value(name: node("GlobalAveragePool", name: key, [x.name]), size: (1, 1))
        }
        guard let (h, w) = x.size else {
            throw ExportError.unsupportedLayer(
                architecture: architecture, layer: key,
                reason: "an adaptive average pool to \(oh)×\(ow) needs a fixed input size")
        }
        if h % oh == 0 && w % ow == 0 {
            let out = node(
                "AveragePool", name: key, [x.name],
                [Self.ints("kernel_shape", [h / oh, w / ow]), Self.ints("strides", [h / oh, w / ow])])
            return Value(name: out, size: (oh, ow))
        }
        func bounds(_ i: Int, _ inSize: Int, _ outSize: Int) -> (Int, Int) {
            (i * inSize / outSize, ((i + 1) * inSize + outSize - 1) / outSize)
        }
        let axes = int64Initializer("\(key).axes", [2, 3])
        var rows: [String] = []
        for i in 0..<oh {
            var cells: [String] = []
            let (y0, y1) = bounds(i, h, oh)
            for j in 0..<ow {
                let (x0, x1) = bounds(j, w, ow)
                let cell = "\(key).cell\(i)_\(j)"
                let starts = int64Initializer("\(cell).starts", [Int64(y0), Int64(x0)])
                let ends = int64Initializer("\(cell).ends", [Int64(y1), Int64(x1)])
                let slice = node("Slice", name: "\(cell).slice", [x.name, starts, ends, axes])
                cells.append(
                    node(
                        "ReduceMean", name: "\(cell).mean", [slice],
                        [Self.ints("axes", [2, 3]), Self.int("keepdims", 1)]))
            }
            rows.append(node("Concat", name: "\(key).row\(i)", cells, [Self.int("axis", 3)]))
        }
        return Value(name: node("Concat", name: key, rows, [Self.int("axis", 2)]), size: (oh, ow))
    }
}
