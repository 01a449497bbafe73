"""Per-op translation of ONNX nodes into TFLite-semantics IR ops (NHWC), used by ``onnx_import``.

Each handler reads its node through the Converter ``cv`` (shapes and constants in ONNX layout), asks for
its inputs in the layout it needs (``cv.get``) and binds its outputs with the layout it produced."""
from __future__ import annotations

import math

import numpy as np

from .onnx_import import NHWC, Converter, canonical, inverse, moves_data
from .onnx_prep import ONode

HANDLERS: dict = {}


def handles(*ops):
    def deco(fn):
        for o in ops:
            HANDLERS[o] = fn
        return fn
    return deco


def _axis(cv: Converter, axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise cv.unsupported(f"axis {axis} out of range for rank {rank}")
    return axis % rank


# elementwise --------------------------------------------------------------------------------------------
_UNARY = {"Relu": "RELU", "Sigmoid": "LOGISTIC", "Tanh": "TANH", "HardSwish": "HARD_SWISH",
          "Exp": "EXP", "Abs": "ABS", "Neg": "NEG", "Sqrt": "SQRT"}


def _unary(cv: Converter, type_: str, x: str, out: str | None = None, **options) -> str:
    """Elementwise op: works in whatever layout its input already has."""
    perm = cv.layout_of(x)
    src = cv.get(x, perm)
    dst = out or cv.output(0, perm)
    cv.emit(type_, [src], [dst], **options)
    return dst


@handles(*_UNARY)
def _simple_unary(cv, n: ONode):
    _unary(cv, _UNARY[n.op], n.inputs[0])


@handles("LeakyRelu")
def _leaky(cv, n):
    _unary(cv, "LEAKY_RELU", n.inputs[0], alpha=float(n.attrs.get("alpha", 0.01)))


def _clip_bounds(cv, n) -> tuple[float, float]:
    if cv.og.opset < 11:
        return float(n.attrs.get("min", -np.inf)), float(n.attrs.get("max", np.inf))
    lo = cv.need_const(cv.input(1), "Clip min") if cv.input(1) else np.float32(-np.inf)
    hi = cv.need_const(cv.input(2), "Clip max") if cv.input(2) else np.float32(np.inf)
    return float(lo), float(hi)


@handles("Clip")
def _clip(cv, n):
    lo, hi = _clip_bounds(cv, n)
    x = n.inputs[0]
    named = {(0.0, 6.0): "RELU6", (-1.0, 1.0): "RELU_N1_TO_1", (0.0, math.inf): "RELU"}
    if (lo, hi) in named:
        _unary(cv, named[(lo, hi)], x)
        return
    perm = cv.layout_of(x)
    cur = cv.get(x, perm)
    steps = [(t, v) for t, v in (("MAXIMUM", lo), ("MINIMUM", hi)) if math.isfinite(v)]
    if not steps:
        cv.bind(n.outputs[0], cur, perm)
        return
    for k, (t, v) in enumerate(steps):
        last = k == len(steps) - 1
        dst = cv.output(0, perm) if last else cv.new_tensor(f"{n.outputs[0]}_lo", cv.ir_shape(cur))
        cv.emit(t, [cur, cv.add_const(f"{n.name}/{t.lower()}", np.float32(v))], [dst])
        cur = dst


@handles("HardSigmoid")
def _hard_sigmoid(cv, n):
    # max(0, min(1, a*x + b)) == RELU6(6a*x + 6b) / 6
    a, b = float(n.attrs.get("alpha", 0.2)), float(n.attrs.get("beta", 0.5))
    perm = cv.layout_of(n.inputs[0])
    cur = cv.get(n.inputs[0], perm)
    shape = cv.ir_shape(cur)
    if abs(6 * a - 1) > 1e-7:
        scaled = cv.new_tensor(f"{n.outputs[0]}_scaled", shape)
        cv.emit("MUL", [cur, cv.add_const(f"{n.name}/scale", np.float32(6 * a))], [scaled],
                fused_activation_function="NONE")
        cur = scaled
    clipped = cv.new_tensor(f"{n.outputs[0]}_relu6", shape)
    cv.emit("ADD", [cur, cv.add_const(f"{n.name}/shift", np.float32(6 * b))], [clipped],
            fused_activation_function="RELU6")
    cv.emit("MUL", [clipped, cv.add_const(f"{n.name}/sixth", np.float32(1 / 6))], [cv.output(0, perm)],
            fused_activation_function="NONE")


def _shared_layout(cv, names, rank) -> tuple[int, ...]:
    """The layout for an op over ``names``: the one every full-rank activation operand already has (so a
    row-major 4-D result of MatMul stays row-major through Add), else the canonical one."""
    acts = [x for x in names if x and cv.const(x) is None]
    layouts = {cv.layout_of(x) for x in acts}
    if len(layouts) == 1 and all(len(cv.shape(x)) == rank for x in acts):
        return layouts.pop()
    return canonical(rank)


_BINARY = {"Add": "ADD", "Sub": "SUB", "Mul": "MUL", "Div": "DIV", "Max": "MAXIMUM", "Min": "MINIMUM"}


@handles(*_BINARY)
def _binary(cv, n):
    if len(n.inputs) != 2:
        raise cv.unsupported(f"{len(n.inputs)} inputs (edgeq takes 2)")
    rank = len(cv.shape(n.outputs[0]))
    a, b = n.inputs
    perm = _shared_layout(cv, [a, b], rank)
    type_ = _BINARY[n.op]
    divisor = cv.const(b) if n.op == "Div" else None
    if divisor is not None and divisor.dtype.kind == "f":
        type_ = "MUL"  # division by a constant: multiply by its reciprocal
        rb = cv.const_bcast(f"{n.name}/reciprocal", (1.0 / divisor.astype(np.float64)).astype(np.float32), rank, perm)
    else:
        rb = cv.get_bcast(b, rank, perm)
    opts = {} if type_ in ("MAXIMUM", "MINIMUM") else {"fused_activation_function": "NONE"}
    cv.emit(type_, [cv.get_bcast(a, rank, perm), rb], [cv.output(0, perm)], **opts)


@handles("PRelu")
def _prelu(cv, n):
    rank = len(cv.shape(n.outputs[0]))
    perm = canonical(rank)
    slope = cv.const(n.inputs[1])
    if slope is not None:
        # ONNX slopes are often [C, 1, 1]: broadcast to the full rank so the channel lands on the NHWC axis.
        s = np.broadcast_to(slope.reshape((1,) * (rank - slope.ndim) + slope.shape), (1,) * rank) \
            if slope.size == 1 else slope
        alpha = cv.const_bcast(f"{n.name}/alpha", np.asarray(s, np.float32), rank, perm)
    else:
        alpha = cv.get_bcast(n.inputs[1], rank, perm)
    cv.emit("PRELU", [cv.get_bcast(n.inputs[0], rank, perm), alpha], [cv.output(0, perm)])


@handles("BatchNormalization")
def _batchnorm(cv, n):
    """A BatchNormalization that could not be folded into a Conv/Gemm: y = x*s + t per channel (axis 1)."""
    from .onnx_prep import _bn_scale_shift

    st = _bn_scale_shift(cv.og, n)
    if st is None:
        raise cv.unsupported("scale, bias, mean and variance must be constants")
    if len([o for o in n.outputs if o]) > 1:
        raise cv.unsupported("training-mode outputs (running mean/var) are not supported")
    s, t = st
    x = n.inputs[0]
    rank = len(cv.shape(x))
    perm = cv.layout_of(x)
    chan = (1, -1) + (1,) * (rank - 2)
    scaled = cv.new_tensor(f"{n.outputs[0]}_scaled", cv.ir_shape(cv.get(x, perm)))
    cv.emit("MUL", [cv.get(x, perm), cv.const_bcast(f"{n.name}/scale", s.reshape(chan), rank, perm)], [scaled],
            fused_activation_function="NONE")
    cv.emit("ADD", [scaled, cv.const_bcast(f"{n.name}/shift", t.reshape(chan), rank, perm)], [cv.output(0, perm)],
            fused_activation_function="NONE")


# convolution and pooling ------------------------------------------------------------------------------
def _explicit_pads(in_hw, k_hw, strides, dil, out_hw, pads, auto_pad) -> list[list[int]]:
    """[[top, bottom], [left, right]] that make VALID windows land where ONNX puts them: windows start at
    -begin + i*stride, and the end pad is just what the last window needs (the output size comes from
    ONNX shape inference, so ceil_mode is covered)."""
    out = []
    for i in range(2):
        eff = (k_hw[i] - 1) * dil[i] + 1
        total = max((out_hw[i] - 1) * strides[i] + eff - in_hw[i], 0)
        if auto_pad == "SAME_UPPER":
            begin = total // 2
        elif auto_pad == "SAME_LOWER":
            begin = total - total // 2
        elif auto_pad == "VALID":
            begin = 0
        else:
            begin = int(pads[i])
        out.append([begin, max(total - begin, 0)])
    return out


def _spatial_padding(in_hw, k_hw, strides, dil, out_hw, pads, auto_pad):
    """('SAME'|'VALID', explicit pads or None): TFLite SAME starts windows at -total//2 and has
    ceil(in/stride) outputs, so it is exact when those agree; VALID when nothing is padded; otherwise
    an explicit PAD followed by VALID."""
    explicit = _explicit_pads(in_hw, k_hw, strides, dil, out_hw, pads, auto_pad)
    if not any(b or e for b, e in explicit):
        return "VALID", None
    same = all(out_hw[i] == -(-in_hw[i] // strides[i]) and
               explicit[i][0] == sum(explicit[i]) // 2 for i in range(2))
    return ("SAME", None) if same else ("VALID", explicit)


def _pad_nhwc(cv, x_ir: str, pads_hw, base: str, value: float = 0.0) -> str:
    n, h, w, c = cv.ir_shape(x_ir)
    (t, b), (l, r) = pads_hw
    out = cv.new_tensor(f"{base}_padded", (n, h + t + b, w + l + r, c))
    paddings = cv.add_const(f"{base}/paddings", np.asarray([[0, 0], [t, b], [l, r], [0, 0]], np.int32))
    if value == 0.0:
        cv.emit("PAD", [x_ir, paddings], [out])
    else:
        cv.emit("PADV2", [x_ir, paddings, cv.add_const(f"{base}/pad_value", np.float32(value))], [out])
    return out


def _window(cv, n, k_hw, allow_dilation=True):
    """Input shape, strides, dilations and the TFLite padding (with explicit pads or None) of a window op."""
    shp = cv.shape(n.inputs[0])
    if len(shp) != 4:
        raise cv.unsupported(f"{len(shp) - 2}-D spatial input (edgeq imports 2-D convolutions and pools)")
    strides = [int(v) for v in n.attrs.get("strides", [1, 1])]
    dil = [int(v) for v in n.attrs.get("dilations", [1, 1])]
    if not allow_dilation and dil != [1, 1]:
        raise cv.unsupported(f"dilations {dil} (TFLite pools take none)")
    geo = (shp[2:], k_hw, strides, dil, cv.shape(n.outputs[0])[2:], list(n.attrs.get("pads", [0, 0, 0, 0])),
           n.attrs.get("auto_pad", "NOTSET"))
    return shp, strides, dil, geo


@handles("Conv")
def _conv(cv, n):
    w = cv.need_const(n.inputs[1], "Conv weight").astype(np.float32)
    if w.ndim != 4:
        raise cv.unsupported(f"{w.ndim - 2}-D convolution (edgeq imports 2-D convolutions)")
    shp, strides, dil, geo = _window(cv, n, w.shape[2:])
    padding, explicit = _spatial_padding(*geo)
    bias = cv.const(cv.input(2))
    if cv.input(2) and bias is None:
        raise cv.unsupported("the bias must be a constant")
    o, cin_g = w.shape[:2]
    bias = np.zeros(o, np.float32) if bias is None else bias.astype(np.float32)
    group = int(n.attrs.get("group", 1))
    cin = shp[1]
    x = cv.get(n.inputs[0])
    if explicit:
        x = _pad_nhwc(cv, x, explicit, n.outputs[0])
    geo = dict(padding=padding, stride_w=int(strides[1]), stride_h=int(strides[0]),
               dilation_w_factor=int(dil[1]), dilation_h_factor=int(dil[0]), fused_activation_function="NONE")
    if group == 1:
        cv.emit("CONV_2D", [x, cv.add_const(f"{n.name}/filter", w.transpose(0, 2, 3, 1)),
                            cv.add_const(f"{n.name}/bias", bias)], [cv.output()], **geo)
    elif group == cin and cin_g == 1:
        cv.emit("DEPTHWISE_CONV_2D", [x, cv.add_const(f"{n.name}/filter", w.transpose(1, 2, 3, 0)),
                                      cv.add_const(f"{n.name}/bias", bias)], [cv.output()],
                depth_multiplier=o // cin, **geo)
    else:
        _grouped_conv(cv, n, x, w, bias, group, geo)


def _grouped_conv(cv, n, x, w, bias, group, geo):
    """Groups that are neither 1 nor C: one CONV_2D per group on a channel slice, then CONCATENATION."""
    nb, h, wd, cin = cv.ir_shape(x)
    o, cin_g = w.shape[:2]
    if cin != cin_g * group or o % group:
        raise cv.unsupported(f"group={group} does not divide {cin} input / {o} output channels")
    og = o // group
    out = cv.output()
    oshape = cv.ir_shape(out)
    parts = []
    for g in range(group):
        sl = cv.new_tensor(f"{n.outputs[0]}_in{g}", (nb, h, wd, cin_g))
        cv.emit("STRIDED_SLICE", [x, cv.add_const(f"{n.name}/begin{g}", np.asarray([0, 0, 0, g * cin_g], np.int32)),
                                  cv.add_const(f"{n.name}/end{g}", np.asarray([nb, h, wd, (g + 1) * cin_g], np.int32)),
                                  cv.add_const(f"{n.name}/strides{g}", np.ones(4, np.int32))], [sl],
                begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=0, offset=False)
        part = cv.new_tensor(f"{n.outputs[0]}_g{g}", oshape[:3] + (og,))
        cv.emit("CONV_2D", [sl, cv.add_const(f"{n.name}/filter{g}", w[g * og:(g + 1) * og].transpose(0, 2, 3, 1)),
                            cv.add_const(f"{n.name}/bias{g}", bias[g * og:(g + 1) * og])], [part], **geo)
        parts.append(part)
    cv.emit("CONCATENATION", parts, [out], axis=3, fused_activation_function="NONE")


def _is_nonnegative(cv, ir: str) -> bool:
    op = cv.g.producer(ir)
    if op is None:
        return False
    if op.type in ("RELU", "RELU6", "LOGISTIC") or op.options.get("fused_activation_function") in ("RELU", "RELU6"):
        return True
    return op.type in ("MAX_POOL_2D", "PAD") and _is_nonnegative(cv, op.inputs[0])


@handles("MaxPool", "AveragePool")
def _pool(cv, n):
    if len([o for o in n.outputs if o]) > 1:
        raise cv.unsupported("the Indices output is not supported")
    k = [int(v) for v in n.attrs["kernel_shape"]]
    _, strides, _, geo = _window(cv, n, k, allow_dilation=False)
    x = cv.get(n.inputs[0])
    if n.op == "AveragePool" and n.attrs.get("count_include_pad", 0):
        # ONNX averages the padded zeros too; TFLite never does, so they must be real zeros.
        padding, explicit = "VALID", _explicit_pads(*geo)
        pads = geo[5]
        if geo[6] == "NOTSET" and any(e > pads[2 + i] for i, (_, e) in enumerate(explicit)):
            raise cv.unsupported("ceil_mode windows beyond the padding with count_include_pad=1")
        if any(b or e for b, e in explicit):
            x = _pad_nhwc(cv, x, explicit, n.outputs[0])
    else:
        padding, explicit = _spatial_padding(*geo)
        if explicit and n.op == "AveragePool":
            raise cv.unsupported(f"pads {geo[5]} that TFLite SAME/VALID cannot express with count_include_pad=0")
        if explicit:
            # Padding must never win the max: zero is enough after a ReLU, else the lowest float.
            fill = 0.0 if _is_nonnegative(cv, x) else float(np.finfo(np.float32).min)
            x = _pad_nhwc(cv, x, explicit, n.outputs[0], fill)
    type_ = "MAX_POOL_2D" if n.op == "MaxPool" else "AVERAGE_POOL_2D"
    cv.emit(type_, [x], [cv.output()], padding=padding, stride_w=strides[1], stride_h=strides[0],
            filter_width=k[1], filter_height=k[0], fused_activation_function="NONE")


@handles("GlobalAveragePool")
def _global_avg(cv, n):
    if len(cv.shape(n.inputs[0])) != 4:
        raise cv.unsupported("non-4-D input")
    cv.emit("MEAN", [cv.get(n.inputs[0]), cv.add_const(f"{n.name}/axes", np.asarray([1, 2], np.int32))],
            [cv.output()], keep_dims=True)


@handles("GlobalMaxPool")
def _global_max(cv, n):
    shp = cv.shape(n.inputs[0])
    if len(shp) != 4:
        raise cv.unsupported("non-4-D input")
    cv.emit("MAX_POOL_2D", [cv.get(n.inputs[0])], [cv.output()], padding="VALID", stride_w=1, stride_h=1,
            filter_width=int(shp[3]), filter_height=int(shp[2]), fused_activation_function="NONE")


# matrix products ----------------------------------------------------------------------------------------
def _fully_connected(cv, x_ir: str, weights: np.ndarray, bias: np.ndarray, out: str, name: str, keep: bool):
    cv.emit("FULLY_CONNECTED", [x_ir, cv.add_const(f"{name}/weights", weights.astype(np.float32)),
                                cv.add_const(f"{name}/bias", bias.astype(np.float32))], [out],
            fused_activation_function="NONE", weights_format="DEFAULT", keep_num_dims=keep,
            asymmetric_quantize_inputs=False)


def _rank2_input(cv, name: str, transpose: bool) -> str:
    x = cv.get(name, (1, 0) if transpose else (0, 1))
    return x


@handles("Gemm")
def _gemm(cv, n):
    a, b = n.inputs[0], n.inputs[1]
    alpha, beta = float(n.attrs.get("alpha", 1.0)), float(n.attrs.get("beta", 1.0))
    ta, tb = int(n.attrs.get("transA", 0)), int(n.attrs.get("transB", 0))
    if len(cv.shape(a)) != 2:
        raise cv.unsupported("A must be 2-D")
    x = _rank2_input(cv, a, ta)
    c = cv.const(cv.input(2))
    if cv.input(2) and c is None:
        raise cv.unsupported("C must be a constant")
    m, nout = cv.shape(n.outputs[0])
    w = cv.const(b)
    if w is None:
        raise cv.unsupported("B must be a constant (edgeq maps Gemm to FULLY_CONNECTED)")
    w = (w if tb else w.T).astype(np.float64) * alpha
    bias, extra = np.zeros(nout), None
    if c is not None:
        c = c.astype(np.float64) * beta
        if c.size in (1, nout) and (c.ndim < 2 or c.shape[0] == 1):
            bias = np.broadcast_to(c.reshape(-1), (nout,))
        else:
            extra = c
    if extra is None:
        _fully_connected(cv, x, w, bias, cv.output(), n.name, False)
        return
    mid = cv.new_tensor(f"{n.outputs[0]}_mm", (m, nout))
    _fully_connected(cv, x, w, bias, mid, n.name, False)
    cv.emit("ADD", [mid, cv.const_bcast(f"{n.name}/c", extra, 2, (0, 1))], [cv.output()],
            fused_activation_function="NONE")


@handles("MatMul")
def _matmul(cv, n):
    a, b = n.inputs
    sa, sb = cv.shape(a), cv.shape(b)
    if len(sa) < 2 or len(sb) < 2:
        raise cv.unsupported("1-D operands are not supported")
    out_rank = len(cv.shape(n.outputs[0]))
    ident = tuple(range(out_rank))
    w = cv.const(b)
    x = cv.get_bcast(a, len(sa), tuple(range(len(sa))))
    out = cv.output(0, ident)  # row-major result; consumers wanting NHWC get a transpose only if they need one
    if w is not None and w.ndim == 2:
        _fully_connected(cv, x, w.T, np.zeros(w.shape[1]), out, n.name, len(sa) > 2)
    else:
        y = cv.get(b, tuple(range(len(sb))))
        cv.emit("BATCH_MATMUL", [x, y], [out], adj_x=False, adj_y=False, asymmetric_quantize_inputs=False)


# shape and layout ---------------------------------------------------------------------------------------
def _reshape_to(cv, n, x: str, out_shape) -> None:
    """Row-major reshape of ONNX tensor ``x`` into output 0: only data order matters, so a transpose is
    inserted before (after) only when the IR layout of the input (output) really reorders data."""
    in_shape = cv.shape(x)
    out_shape = tuple(int(d) for d in out_shape)
    have = cv.layout_of(x)
    src = cv.get(x, tuple(range(len(in_shape)))) if moves_data(in_shape, have) else cv.get(x, have)
    want = canonical(len(out_shape))
    perm = tuple(range(len(out_shape))) if moves_data(out_shape, want) else want
    out = cv.output(0, perm, out_shape)
    cv.reshape_op(src, out, cv.ir_shape(out))


@handles("Reshape")
def _reshape(cv, n):
    target = cv.need_const(n.inputs[1], "the target shape").astype(np.int64).tolist()
    in_shape = cv.shape(n.inputs[0])
    if not n.attrs.get("allowzero", 0):
        target = [in_shape[i] if d == 0 else d for i, d in enumerate(target)]
    if target.count(-1) > 1:
        raise cv.unsupported("more than one -1 in the target shape")
    if -1 in target:
        known = int(np.prod([d for d in target if d != -1]))
        target[target.index(-1)] = int(np.prod(in_shape)) // max(known, 1)
    if int(np.prod(target)) != int(np.prod(in_shape)):
        raise cv.unsupported(f"cannot reshape {list(in_shape)} to {target}")
    _reshape_to(cv, n, n.inputs[0], target)


@handles("Flatten")
def _flatten(cv, n):
    shp = cv.shape(n.inputs[0])
    axis = n.attrs.get("axis", 1)
    axis = axis % len(shp) if axis < 0 else axis
    _reshape_to(cv, n, n.inputs[0], (int(np.prod(shp[:axis])), int(np.prod(shp[axis:]))))


@handles("Squeeze", "Unsqueeze")
def _squeeze(cv, n):
    if n.op == "Squeeze" and cv.input(1) is None and "axes" not in n.attrs:
        out = [d for d in cv.shape(n.inputs[0]) if d != 1]
    else:
        axes = n.attrs.get("axes") if cv.og.opset < 13 else cv.need_const(cv.input(1), "axes")
        if axes is None:
            raise cv.unsupported("axes are required")
        out = list(cv.shape(n.outputs[0]))
    _reshape_to(cv, n, n.inputs[0], out)


@handles("Transpose")
def _transpose(cv, n):
    x = n.inputs[0]
    rank = len(cv.shape(x))
    t = tuple(n.attrs.get("perm", list(range(rank))[::-1]))
    have, want = cv.layout_of(x), canonical(rank)
    inv = inverse(have)
    rel = tuple(inv[t[want[i]]] for i in range(rank))  # ir_in → ir_out
    src = cv.get(x, have)
    if rel == tuple(range(rank)):
        cv.bind(n.outputs[0], src, want)
        return
    out = cv.output(0, want)
    if moves_data(cv.ir_shape(src), rel):
        cv.emit("TRANSPOSE", [src, cv.add_const(f"{n.name}/perm", np.asarray(rel, np.int32))], [out])
    else:
        cv.reshape_op(src, out, cv.ir_shape(out))


@handles("Concat")
def _concat(cv, n):
    rank = len(cv.shape(n.outputs[0]))
    axis = _axis(cv, int(n.attrs["axis"]), rank)
    ins = [i for i in n.inputs if i and int(np.prod(cv.shape(i))) > 0]
    perm = _shared_layout(cv, ins, rank)
    out = cv.output(0, perm)
    if len(ins) == 1:
        cv.reshape_op(cv.get(ins[0], perm), out, cv.ir_shape(out))
        return
    cv.emit("CONCATENATION", [cv.get(i, perm) for i in ins], [out], axis=perm.index(axis),
            fused_activation_function="NONE")


def _strided_slice(cv, n, x: str, bounds: dict, shrink: int | None = None) -> None:
    """STRIDED_SLICE of ONNX tensor ``x`` in its current layout; ``bounds`` maps ONNX axis → (begin, end,
    stride) already clamped; ``shrink`` drops that ONNX axis (a scalar Gather)."""
    shape = cv.shape(x)
    have = cv.layout_of(x)
    begin = [bounds.get(a, (0, shape[a], 1))[0] for a in have]
    end = [bounds.get(a, (0, shape[a], 1))[1] for a in have]
    strides = [bounds.get(a, (0, shape[a], 1))[2] for a in have]
    if shrink is None:
        perm = have
        mask = 0
    else:
        perm = tuple(a - (a > shrink) for a in have if a != shrink)
        mask = 1 << have.index(shrink)
    cv.emit("STRIDED_SLICE", [cv.get(x, have), cv.add_const(f"{n.name}/begin", np.asarray(begin, np.int32)),
                              cv.add_const(f"{n.name}/end", np.asarray(end, np.int32)),
                              cv.add_const(f"{n.name}/strides", np.asarray(strides, np.int32))],
            [cv.output(0, perm)], begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=0,
            shrink_axis_mask=mask, offset=False)


@handles("Slice")
def _slice(cv, n):
    x = n.inputs[0]
    shape = cv.shape(x)
    rank = len(shape)
    starts = cv.need_const(n.inputs[1], "starts").tolist()
    ends = cv.need_const(n.inputs[2], "ends").tolist()
    axes = cv.need_const(cv.input(3), "axes").tolist() if cv.input(3) else list(range(len(starts)))
    steps = cv.need_const(cv.input(4), "steps").tolist() if cv.input(4) else [1] * len(starts)
    bounds = {}
    for s0, e0, a, st in zip(starts, ends, axes, steps):
        a = _axis(cv, int(a), rank)
        if st <= 0:
            raise cv.unsupported(f"step {st} (edgeq slices forward only)")
        dim = shape[a]
        b, e = (min(max(v + dim if v < 0 else v, 0), dim) for v in (s0, e0))
        bounds[a] = (b, max(e, b), int(st))
    _strided_slice(cv, n, x, bounds)


@handles("Gather")
def _gather(cv, n):
    x = n.inputs[0]
    shape = cv.shape(x)
    axis = _axis(cv, int(n.attrs.get("axis", 0)), len(shape))
    idx = cv.need_const(n.inputs[1], "indices").astype(np.int64)
    idx = np.where(idx < 0, idx + shape[axis], idx)
    if idx.ndim == 0:
        _strided_slice(cv, n, x, {axis: (int(idx), int(idx) + 1, 1)}, shrink=axis)
        return
    step = int(idx[1] - idx[0]) if idx.size > 1 else 1
    if idx.ndim != 1 or step <= 0 or not np.array_equal(idx, idx[0] + step * np.arange(idx.size)):
        raise cv.unsupported("indices must be a scalar or an increasing arithmetic range")
    _strided_slice(cv, n, x, {axis: (int(idx[0]), int(idx[-1]) + 1, step)})


@handles("Pad")
def _pad(cv, n):
    mode = n.attrs.get("mode", "constant")
    x = n.inputs[0]
    rank = len(cv.shape(x))
    if cv.og.opset < 11:
        pads, value = list(n.attrs["pads"]), float(n.attrs.get("value", 0.0))
    else:
        pads = cv.need_const(n.inputs[1], "pads").astype(np.int64).tolist()
        cval = cv.const(cv.input(2))
        if cv.input(2) and cval is None:
            raise cv.unsupported("constant_value must be a constant")
        value = float(cval) if cval is not None and cval.size else 0.0
    axes = list(range(rank))
    if cv.input(3):
        axes = [_axis(cv, int(a), rank) for a in cv.need_const(cv.input(3), "axes")]
    begin, end = [0] * rank, [0] * rank
    for k, a in enumerate(axes):
        begin[a], end[a] = pads[k], pads[k + len(axes)]
    if min(begin + end) < 0:
        raise cv.unsupported("negative pads (cropping) are not supported")
    perm = cv.layout_of(x)
    paddings = cv.add_const(f"{n.name}/paddings", np.asarray([[begin[p], end[p]] for p in perm], np.int32))
    src, out = cv.get(x, perm), cv.output(0, perm)
    if mode == "constant":
        if value == 0.0:
            cv.emit("PAD", [src, paddings], [out])
        else:
            cv.emit("PADV2", [src, paddings, cv.add_const(f"{n.name}/value", np.float32(value))], [out])
    elif mode == "reflect":
        cv.emit("MIRROR_PAD", [src, paddings], [out], mode="REFLECT")
    else:
        raise cv.unsupported(f"mode {mode!r} (edgeq takes constant and reflect)")


@handles("Softmax")
def _softmax(cv, n):
    x = n.inputs[0]
    shp = cv.shape(x)
    rank = len(shp)
    axis = _axis(cv, int(n.attrs.get("axis", -1 if cv.og.opset >= 13 else 1)), rank)
    if cv.og.opset < 13 and int(np.prod(shp[axis + 1:])) != 1:
        raise cv.unsupported("opset<13 Softmax over several axes (coerced to 2-D) is not supported")
    have = cv.layout_of(x)
    perm = have if have[-1] == axis else tuple(a for a in have if a != axis) + (axis,)
    cv.emit("SOFTMAX", [cv.get(x, perm)], [cv.output(0, perm)], beta=1.0)


_REDUCE = {"ReduceMean": "MEAN", "ReduceMax": "REDUCE_MAX", "ReduceMin": "REDUCE_MIN", "ReduceSum": "SUM"}


@handles(*_REDUCE)
def _reduce(cv, n):
    x = n.inputs[0]
    rank = len(cv.shape(x))
    # axes moved from attribute to input in opset 13 (ReduceSum) and 18 (the others)
    axes = cv.need_const(cv.input(1), "axes").tolist() if cv.input(1) else n.attrs.get("axes")
    if axes is None or len(axes) == 0:
        if n.attrs.get("noop_with_empty_axes", 0):
            cv.bind(n.outputs[0], cv.get(x, cv.layout_of(x)), cv.layout_of(x))
            return
        axes = list(range(rank))
    axes = sorted({_axis(cv, int(a), rank) for a in axes})
    keep = bool(n.attrs.get("keepdims", 1))
    have = cv.layout_of(x)
    ir_axes = sorted(have.index(a) for a in axes)
    if keep:
        perm = have
    else:
        rest = [a for a in have if a not in axes]
        perm = tuple(a - sum(b < a for b in axes) for a in rest)
    cv.emit(_REDUCE[n.op], [cv.get(x, have), cv.add_const(f"{n.name}/axes", np.asarray(ir_axes, np.int32))],
            [cv.output(0, perm)], keep_dims=keep)


__all__ = ["HANDLERS", "NHWC"]
