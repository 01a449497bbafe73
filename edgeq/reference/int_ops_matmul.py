"""Integer CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED (int8, 16x8, INT4 weights held as int8) and
AVERAGE_POOL_2D / MAX_POOL_2D, with runtime_c's requantization:

int8 conv / depthwise   int32 accumulator (bias added with wrap-around), two-step gemmlowp rounding.
int8 FULLY_CONNECTED    the single 64-bit rounding, exact ties away from zero; per-tensor weights apply
                        their zero point and take one multiplier from the float product of the scales.
16x8 conv / depthwise   int64 accumulator, bias clamped to 2^47, the 16-bit-reduced multiplier; with
                        quantized_bias_type INT32 (conv) an int32 wrapping accumulator and two-step rounding.
16x8 FULLY_CONNECTED    round(acc * in_scale * w_scale / out_scale) in double, halves away from zero
                        (int64 accumulator, or int32 wrapping with quantized_bias_type INT32).
"""
from __future__ import annotations

import numpy as np

from edgeq.model.ir import Op, Tensor
from edgeq.reference.int_exec import (I32_MAX, I32_MIN, _fused_range, _pad_amounts, _patches, _qm_arrays, _Run,
                                      _scale, _wrap32, _zp, clamp, mul_by_qm, mul_by_qm_64, mul_by_qm_single,
                                      round_half_away_f64)


def _acc32(op: Op, in_t: Tensor) -> bool:
    """int32 accumulation: int8 always; 16x8 when the options name an INT32 bias."""
    return in_t.dtype != "int16" or op.options.get("quantized_bias_type") in ("INT32", 2)


def _add_bias(acc: np.ndarray, r: _Run, op: Op, acc32: bool) -> np.ndarray:
    b = r.val(op.inputs[2]) if len(op.inputs) > 2 else None
    if b is not None:
        acc = acc + np.clip(np.asarray(b, np.int64), -(2**47), 2**47)  # runtime_c's eq_bias64 clamp
    return _wrap32(acc) if acc32 else acc


def _requant_out(acc: np.ndarray, op: Op, in_t: Tensor, w_t: Tensor, out_t: Tensor, acc32: bool) -> np.ndarray:
    """Accumulator → output integers (per-channel multipliers on the last axis)."""
    in_s, out_s = _scale(in_t), _scale(out_t)
    ws = w_t.quant.scale.astype(np.float32)
    fc = op.type == "FULLY_CONNECTED"
    if fc and in_t.dtype == "int16":  # double scale, no multiplier
        scale = np.array([float(np.float32(in_s)) * float(s) / float(np.float32(out_s)) for s in ws])
        y = np.clip(round_half_away_f64(acc.astype(np.float64) * scale), I32_MIN, I32_MAX)
    else:
        if fc and ws.size == 1:
            mult, shift = _qm_arrays([float(np.float32(in_s) * ws[0]) / out_s])
        else:
            mult, shift = _qm_arrays([float(np.float32(in_s)) * float(s) / float(np.float32(out_s)) for s in ws])
        if fc:
            y = mul_by_qm_single(acc, mult, shift)
        elif not acc32:
            y = mul_by_qm_64(acc, mult, shift)
        else:
            y = mul_by_qm(acc, mult, shift)
    lo, hi = _fused_range(op, out_t)
    return clamp(_wrap32(y + _zp(out_t)), lo, hi)


def conv(r: _Run, op: Op) -> np.ndarray:
    x_t, w_t, out_t = r.t(op.inputs[0]), r.t(op.inputs[1]), r.t(op.outputs[0])
    x = r.val(op.inputs[0]).astype(np.float64) - _zp(x_t)
    w = np.asarray(w_t.data, np.float64)
    o = op.options
    sh, sw = int(o.get("stride_h", 1)), int(o.get("stride_w", 1))
    dh, dw = int(o.get("dilation_h_factor", 1)), int(o.get("dilation_w_factor", 1))
    n, h, wd, _ = x.shape
    oh, ow = out_t.shape[1], out_t.shape[2]
    pad = o.get("padding", "VALID")
    if op.type == "CONV_2D":
        cout, kh, kw, cin = w.shape
    else:
        _, kh, kw, cout = w.shape
    ph = _pad_amounts(h, oh, kh, sh, dh, pad)
    pw = _pad_amounts(wd, ow, kw, sw, dw, pad)
    p = _patches(x, kh, kw, oh, ow, sh, sw, dh, dw, ph, pw)
    if op.type == "CONV_2D":
        groups = x.shape[3] // cin
        if groups == 1:
            acc = p.reshape(n * oh * ow, -1) @ w.reshape(cout, -1).T
        else:  # grouped convolution: each group of output channels reads its slice of the input
            per = cout // groups
            acc = np.concatenate(
                [p[..., g * cin:(g + 1) * cin].reshape(n * oh * ow, -1) @ w[g * per:(g + 1) * per].reshape(per, -1).T
                 for g in range(groups)], axis=1)
    else:
        mult = cout // x.shape[3]
        pc = np.repeat(p, mult, axis=5) if mult > 1 else p
        acc = np.einsum("rijc,ijc->rc", pc.reshape(n * oh * ow, kh, kw, cout), w[0])
    acc = np.rint(acc).astype(np.int64).reshape(n, oh, ow, cout)
    acc32 = _acc32(op, x_t)
    return _requant_out(_add_bias(acc, r, op, acc32), op, x_t, w_t, out_t, acc32)


def fully_connected(r: _Run, op: Op) -> np.ndarray:
    x_t, w_t, out_t = r.t(op.inputs[0]), r.t(op.inputs[1]), r.t(op.outputs[0])
    w = np.asarray(w_t.data, np.float64)
    if w_t.quant.scale.size == 1:  # per-tensor weights apply their zero point
        w = w - int(w_t.quant.zero_point[0])
    x = r.val(op.inputs[0]).astype(np.float64).reshape(-1, w.shape[1]) - _zp(x_t)
    acc = np.rint(x @ w.T).astype(np.int64)
    acc32 = _acc32(op, x_t)
    y = _requant_out(_add_bias(acc, r, op, acc32), op, x_t, w_t, out_t, acc32)
    return y.reshape(r._out_shape(op, y.size))


def pool(r: _Run, op: Op) -> np.ndarray:
    out_t = r.t(op.outputs[0])
    x = r.val(op.inputs[0]).astype(np.int64)
    o = op.options
    kh, kw = int(o["filter_height"]), int(o["filter_width"])
    sh, sw = int(o.get("stride_h", 1)), int(o.get("stride_w", 1))
    n, h, w, c = x.shape
    oh, ow = out_t.shape[1], out_t.shape[2]
    ph = _pad_amounts(h, oh, kh, sh, 1, o.get("padding", "VALID"))
    pw = _pad_amounts(w, ow, kw, sw, 1, o.get("padding", "VALID"))
    y = np.empty((n, oh, ow, c), np.int64)
    for i in range(oh):
        y0, y1 = max(i * sh - ph, 0), min(i * sh - ph + kh, h)
        for j in range(ow):
            x0, x1 = max(j * sw - pw, 0), min(j * sw - pw + kw, w)
            win = x[:, y0:y1, x0:x1]
            if op.type == "MAX_POOL_2D":
                y[:, i, j] = win.max(axis=(1, 2))
            else:
                cnt = (y1 - y0) * (x1 - x0)
                s = win.sum(axis=(1, 2))
                q = (np.abs(s) + cnt // 2) // cnt  # division rounding half away from zero
                y[:, i, j] = np.where(s > 0, q, -q)
    lo, hi = _fused_range(op, out_t)
    return clamp(y, lo, hi)


OPS = {"CONV_2D": conv, "DEPTHWISE_CONV_2D": conv, "FULLY_CONNECTED": fully_connected,
       "AVERAGE_POOL_2D": pool, "MAX_POOL_2D": pool}
