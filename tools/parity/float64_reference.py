"""A float64 evaluation of an ONNX graph, for the operators U-2-Netp uses.

float32 runtimes disagree with each other in the last digits: on U-2-Netp, onnxruntime's own
optimised and unoptimised paths differ by 1.4e-4 to 3e-4 (relative, 0.01 floor) on the parity
inputs, so onnxruntime's output can't serve as the reference for a 1e-4 test. This evaluates the
same graph in float64 with plain numpy (im2col convolution), which is exact to far below that.

Operators: Conv (any padding, stride, dilation, group 1), Relu, Sigmoid, Add, MaxPool (ceil_mode),
Concat, Resize (linear or nearest, ONNX coordinate modes), and the shape operators Shape,
Gather, Unsqueeze, Cast, Slice, Constant.
"""
import numpy as np
import onnx
from onnx import numpy_helper


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _conv(x, w, b, a):
    n, c, h, wd = x.shape
    o, ci, kh, kw = w.shape
    assert a.get("group", 1) == 1
    sy, sx = a.get("strides", [1, 1])
    dy, dx = a.get("dilations", [1, 1])
    pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh = (h + pt + pb - (kh - 1) * dy - 1) // sy + 1
    ow = (wd + pl + pr - (kw - 1) * dx - 1) // sx + 1
    cols = np.empty((n, c, kh, kw, oh, ow), dtype=np.float64)
    for ky in range(kh):
        for kx in range(kw):
            cols[:, :, ky, kx] = xp[:, :, ky * dy: ky * dy + sy * (oh - 1) + 1: sy, kx * dx: kx * dx + sx * (ow - 1) + 1: sx]
    out = np.einsum("ncijhw,ocij->nohw", cols, w, optimize=True)
    if b is not None:
        out += b[None, :, None, None]
    return out


def _maxpool(x, a):
    kh, kw = a["kernel_shape"]
    sy, sx = a.get("strides", [1, 1])
    pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
    n, c, h, w = x.shape

    def size(i, k, s, p0, p1):
        span = i + p0 + p1 - k
        if a.get("ceil_mode", 0):
            o = -(-span // s) + 1
            if (o - 1) * s >= i + p0:
                o -= 1
            return o
        return span // s + 1
    oh, ow = size(h, kh, sy, pt, pb), size(w, kw, sx, pl, pr)
    out = np.full((n, c, oh, ow), -np.inf)
    for y in range(oh):
        for x0 in range(ow):
            ys, xs = y * sy - pt, x0 * sx - pl
            window = x[:, :, max(ys, 0):min(ys + kh, h), max(xs, 0):min(xs + kw, w)]
            out[:, :, y, x0] = window.max(axis=(2, 3))
    return out


def _source(o, in_size, out_size, scale, mode):
    if mode == "half_pixel":
        return (o + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (o + 0.5) / scale - 0.5 if out_size > 1 else 0.0
    if mode == "align_corners":
        return o * (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
    return o / scale


def _resize(x, sizes, scales, a):
    n, c, h, w = x.shape
    if sizes is not None and len(sizes):
        oh, ow = int(sizes[2]), int(sizes[3])
        scale_h, scale_w = oh / h, ow / w
    else:
        scale_h, scale_w = float(scales[2]), float(scales[3])
        oh, ow = int(np.floor(h * scale_h)), int(np.floor(w * scale_w))
    mode = a.get("coordinate_transformation_mode", b"half_pixel").decode()
    assert a.get("mode", b"nearest").decode() == "linear"

    def taps(in_size, out_size, scale):
        src = np.array([_source(o, in_size, out_size, scale, mode) for o in range(out_size)])
        src = np.clip(src, 0, in_size - 1)
        low = np.minimum(np.floor(src).astype(int), in_size - 1)
        return low, np.minimum(low + 1, in_size - 1), src - low
    y0, y1, wy = taps(h, oh, scale_h)
    x0, x1, wx = taps(w, ow, scale_w)
    top = x[:, :, y0][:, :, :, x0] * (1 - wx) + x[:, :, y0][:, :, :, x1] * wx
    bottom = x[:, :, y1][:, :, :, x0] * (1 - wx) + x[:, :, y1][:, :, :, x1] * wx
    return top * (1 - wy)[:, None] + bottom * wy[:, None]


def evaluate(model_bytes, x, outputs=None):
    model = onnx.load_from_string(model_bytes)
    g = model.graph
    env = {t.name: numpy_helper.to_array(t).astype(np.float64) if t.data_type in (1, 11) else numpy_helper.to_array(t)
           for t in g.initializer}
    env[g.input[0].name] = x.astype(np.float64)
    for node in g.node:
        a = _attrs(node)
        i = [env[name] if name else None for name in node.input]
        op = node.op_type
        if op == "Constant":
            v = numpy_helper.to_array(a["value"])
            r = v.astype(np.float64) if v.dtype == np.float32 else v
        elif op == "Conv":
            r = _conv(i[0], i[1], i[2] if len(i) > 2 else None, a)
        elif op == "Relu":
            r = np.maximum(i[0], 0)
        elif op == "Sigmoid":
            r = 1 / (1 + np.exp(-i[0]))
        elif op == "Add":
            r = i[0] + i[1]
        elif op == "MaxPool":
            r = _maxpool(i[0], a)
        elif op == "Concat":
            r = np.concatenate(i, axis=a["axis"])
        elif op == "Resize":
            r = _resize(i[0], i[3] if len(i) > 3 else None, i[2] if len(i) > 2 else None, a)
        elif op == "Shape":
            r = np.array(i[0].shape, dtype=np.int64)
        elif op == "Gather":
            r = np.take(i[0], i[1], axis=a.get("axis", 0))
        elif op == "Unsqueeze":
            r = np.expand_dims(i[0], tuple(a["axes"]))
        elif op == "Cast":
            r = i[0].astype(np.int64) if a["to"] == 7 else i[0].astype(np.float64)
        elif op == "Slice":
            starts, ends = i[1], i[2]
            axes = i[3] if len(i) > 3 and i[3] is not None else list(range(len(starts)))
            steps = i[4] if len(i) > 4 and i[4] is not None else [1] * len(starts)
            index = [slice(None)] * i[0].ndim
            for s, e, ax, st in zip(starts, ends, axes, steps):
                index[ax] = slice(int(s), int(e), int(st))
            r = i[0][tuple(index)]
        else:
            raise NotImplementedError(op)
        env[node.output[0]] = r
    names = outputs or [o.name for o in g.output]
    return [env[name] for name in names]
