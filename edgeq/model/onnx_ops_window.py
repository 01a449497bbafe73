"""ONNX Conv and pooling nodes as TFLite CONV_2D / DEPTHWISE_CONV_2D / pools in NHWC, with ONNX's explicit
pads turned into TFLite SAME/VALID padding or an explicit PAD where the windows would differ."""
from __future__ import annotations

import numpy as np

from .onnx_ops import handles

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
