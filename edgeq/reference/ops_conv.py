"""Float CONV_2D, DEPTHWISE_CONV_2D, pooling, FULLY_CONNECTED and BATCH_MATMUL with TFLite semantics.

Convolutions are im2col + one matmul (float32 BLAS), depthwise and pooling a loop over the filter taps
with whole-tensor arithmetic, so the Python overhead is per tap, never per pixel."""
from __future__ import annotations

import numpy as np

from edgeq.errors import UnsupportedError
from edgeq.reference.kernels import Ctx, fused, kernel

# Fully connected layers up to this many weights follow the reference kernel's summation order.
EXACT_FC_WEIGHTS = 1 << 20


def out_size(n: int, k: int, stride: int, dilation: int, padding: str) -> tuple[int, int]:
    """(output length, padding before) along one spatial axis; SAME puts the odd pixel after."""
    eff = (k - 1) * dilation + 1
    if padding == "SAME":
        out = -(-n // stride)
    elif padding == "VALID":
        out = (n - eff) // stride + 1
    else:
        raise UnsupportedError(f"padding {padding!r} is not supported")
    total = max((out - 1) * stride + eff - n, 0)
    return max(out, 0), total // 2


def _pad_spatial(x: np.ndarray, kh, kw, sh, sw, dh, dw, padding, value=0.0):
    n, h, w, c = x.shape
    oh, ph = out_size(h, kh, sh, dh, padding)
    ow, pw = out_size(w, kw, sw, dw, padding)
    need_h = (oh - 1) * sh + (kh - 1) * dh + 1
    need_w = (ow - 1) * sw + (kw - 1) * dw + 1
    after_h, after_w = max(need_h - h - ph, 0), max(need_w - w - pw, 0)
    if ph or pw or after_h or after_w:
        x = np.pad(x, ((0, 0), (ph, after_h), (pw, after_w), (0, 0)), constant_values=value)
    return x, oh, ow, (ph, pw)


def _taps(xp, oh, ow, kh, kw, sh, sw, dh, dw):
    """Yield (i, j, view of xp seen by filter tap (i, j)) of shape [N, oh, ow, C]."""
    for i in range(kh):
        for j in range(kw):
            y0, x0 = i * dh, j * dw
            yield i, j, xp[:, y0:y0 + (oh - 1) * sh + 1:sh, x0:x0 + (ow - 1) * sw + 1:sw, :]


def _geometry(ctx: Ctx, kh: int, kw: int):
    o = ctx.opt
    return (kh, kw, int(o.get("stride_h", 1)), int(o.get("stride_w", 1)),
            int(o.get("dilation_h_factor", 1)), int(o.get("dilation_w_factor", 1)), o.get("padding", "VALID"))


@kernel("CONV_2D")
def conv2d(ctx: Ctx):
    x, w, b = (ctx.args + [None])[:3]
    if x.ndim != 4 or w.ndim != 4:
        raise UnsupportedError(f"{ctx.where()}: CONV_2D needs 4-D input and OHWI filter")
    cout, kh, kw, cin = w.shape
    groups = x.shape[3] // cin
    if groups * cin != x.shape[3]:
        raise UnsupportedError(f"{ctx.where()}: input has {x.shape[3]} channels, filter expects {cin}")
    kh, kw, sh, sw, dh, dw, pad = _geometry(ctx, kh, kw)
    xp, oh, ow, _ = _pad_spatial(x, kh, kw, sh, sw, dh, dw, pad)
    n = x.shape[0]
    if kh == kw == 1:
        cols = xp[:, : (oh - 1) * sh + 1: sh, : (ow - 1) * sw + 1: sw, :]
    else:  # im2col in one copy; columns ordered (kh, kw, c) like the OHWI filter
        win = np.lib.stride_tricks.sliding_window_view(xp, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(1, 2))
        win = win[:, : (oh - 1) * sh + 1: sh, : (ow - 1) * sw + 1: sw, :, ::dh, ::dw]
        cols = win.transpose(0, 1, 2, 4, 5, 3)
    if groups == 1:
        y = cols.reshape(-1, kh * kw * cin) @ w.reshape(cout, -1).T
    else:  # grouped: each group of output channels sees its own slice of input channels
        cols = cols.reshape(-1, kh * kw, groups, cin)
        wg = w.reshape(groups, cout // groups, kh * kw, cin)
        y = np.einsum("pkgc,gokc->pgo", cols, wg, optimize=True).reshape(-1, cout)
    if b is not None:
        y += b
    return fused(y.reshape(n, oh, ow, cout), ctx.opt.get("fused_activation_function"), ctx.where())


@kernel("DEPTHWISE_CONV_2D")
def depthwise_conv2d(ctx: Ctx):
    x, w, b = (ctx.args + [None])[:3]
    _, kh, kw, cout = w.shape
    mult = int(ctx.opt.get("depth_multiplier", 0) or 0) or cout // x.shape[3]
    if x.shape[3] * mult != cout:
        raise UnsupportedError(f"{ctx.where()}: {x.shape[3]} channels x multiplier {mult} != {cout} filters")
    if mult > 1:  # output channel c*mult + m reads input channel c
        x = np.repeat(x, mult, axis=3)
    kh, kw, sh, sw, dh, dw, pad = _geometry(ctx, kh, kw)
    xp, oh, ow, _ = _pad_spatial(x, kh, kw, sh, sw, dh, dw, pad)
    # Rows of (ow * channels) with the filter tiled along them: with few channels numpy's inner loop
    # would otherwise be only `channels` long (measured 7x slower for 8 channels).
    n = x.shape[0]
    acc = np.zeros((n, oh, ow * cout), dtype=np.float32)
    tmp = np.empty_like(acc)
    wt = np.tile(w[0].astype(np.float32, copy=False), (1, 1, ow))
    for i, j, tap in _taps(xp, oh, ow, kh, kw, sh, sw, dh, dw):
        np.multiply(tap.reshape(n, oh, ow * cout), wt[i, j], out=tmp)
        acc += tmp
    acc = acc.reshape(n, oh, ow, cout)
    if b is not None:
        acc += b
    return fused(acc, ctx.opt.get("fused_activation_function"), ctx.where())


def _pool(ctx: Ctx, reduce: str):
    x = ctx.args[0]
    o = ctx.opt
    kh, kw = int(o.get("filter_height", 1)), int(o.get("filter_width", 1))
    sh, sw = int(o.get("stride_h", 1)), int(o.get("stride_w", 1))
    pad = o.get("padding", "VALID")
    if reduce == "max":
        xp, oh, ow, _ = _pad_spatial(x, kh, kw, sh, sw, 1, 1, pad, value=-np.inf)
        acc = np.full((x.shape[0], oh, ow, x.shape[3]), -np.inf, dtype=np.float32)
        for _, _, tap in _taps(xp, oh, ow, kh, kw, sh, sw, 1, 1):
            np.maximum(acc, tap, out=acc)
    else:
        xp, oh, ow, _ = _pad_spatial(x, kh, kw, sh, sw, 1, 1, pad)
        ones, _, _, _ = _pad_spatial(np.ones((1, x.shape[1], x.shape[2], 1), np.float32), kh, kw, sh, sw, 1, 1, pad)
        acc = np.zeros((x.shape[0], oh, ow, x.shape[3]), dtype=np.float32)
        count = np.zeros((1, oh, ow, 1), dtype=np.float32)
        for (_, _, tap), (_, _, one) in zip(_taps(xp, oh, ow, kh, kw, sh, sw, 1, 1),
                                            _taps(ones, oh, ow, kh, kw, sh, sw, 1, 1)):
            acc += tap
            count += one
        acc /= count  # padding is not counted: the average is over the pixels inside the image
    return fused(acc, o.get("fused_activation_function"), ctx.where())


@kernel("MAX_POOL_2D")
def max_pool(ctx: Ctx):
    return _pool(ctx, "max")


@kernel("AVERAGE_POOL_2D")
def average_pool(ctx: Ctx):
    return _pool(ctx, "avg")


@kernel("FULLY_CONNECTED")
def fully_connected(ctx: Ctx):
    x, w, b = (ctx.args + [None])[:3]
    if w is None or w.ndim != 2:
        raise UnsupportedError(f"{ctx.where()}: FULLY_CONNECTED needs a 2-D [out, in] weight")
    cout, k = w.shape
    if x.size % k:
        raise UnsupportedError(f"{ctx.where()}: input of {x.size} values is not a multiple of {k}")
    rows = x.reshape(-1, k)
    if cout * k <= EXACT_FC_WEIGHTS:
        # LiteRT's reference kernel sums over the input axis in order, in float32; doing the same keeps
        # deep FC stacks (the anomaly autoencoder) bit-exact instead of ~1e-4 apart from BLAS's order
        wt = np.ascontiguousarray(w.T, dtype=np.float32)
        y = np.zeros((rows.shape[0], cout), dtype=np.float32)
        for d in range(k):
            y += rows[:, d:d + 1] * wt[d]
    else:
        y = rows @ w.T
    if b is not None:
        y += b
    if ctx.opt.get("keep_num_dims", False):
        y = y.reshape(x.shape[:-1] + (cout,))
    return fused(y, ctx.opt.get("fused_activation_function"), ctx.where())


@kernel("BATCH_MATMUL")
def batch_matmul(ctx: Ctx):
    x, y = ctx.args[:2]
    if ctx.opt.get("adj_x", False):
        x = np.swapaxes(x, -1, -2)
    if ctx.opt.get("adj_y", False):
        y = np.swapaxes(y, -1, -2)
    return np.matmul(x, y)
