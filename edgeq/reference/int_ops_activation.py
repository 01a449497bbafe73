"""Integer activations as runtime_c computes them:

RELU, RELU6     requantize by in_scale / out_scale (float), clamp to [q(0), q(6) or the type's max].
LEAKY_RELU      identity multiplier for x >= 0, alpha multiplier (its magnitude, negated for alpha < 0).
HARD_SWISH      int8 only: LiteRT's 16-bit fixed-point steps, int16 wrap-around included.
LOGISTIC, TANH  int8: a 256-entry table built in float32 with the C library's expf / tanhf (as runtime_c
                and LiteRT build theirs at prepare); int16: LiteRT's interpolated 256-entry sigmoid table.
"""
from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np

from edgeq.model.ir import Op
from edgeq.reference.int_exec import (RANGES, _round_half_away, _Run, _scale, _wrap16, _wrap32, _zp, checked_log2,
                                      clamp, mul_by_qm, quantize_multiplier, require)


def _requant_args(r: _Run, op: Op, dtypes=("int8", "int16")):
    x_t, out_t = r.t(op.inputs[0]), r.t(op.outputs[0])
    require(x_t.dtype == out_t.dtype and x_t.dtype in dtypes, op,
            f"{op.type} takes {' or '.join(dtypes)} in and out, got {x_t.dtype} -> {out_t.dtype}")
    if x_t.dtype == "int16":
        require(_zp(x_t) == 0 and _zp(out_t) == 0, op, "int16 tensors must be symmetric")
    return x_t, out_t, r.val(op.inputs[0]).astype(np.int64)


# RELU, RELU6, LEAKY_RELU ----------------------------------------------------------------------------------
def relu(r: _Run, op: Op) -> np.ndarray:
    x_t, out_t, x = _requant_args(r, op)
    qmin, qmax = RANGES[out_t.dtype]
    s_out, z = np.float32(_scale(out_t)), _zp(out_t)
    m, s = quantize_multiplier(float(np.float32(_scale(x_t)) / s_out))
    lo = max(z + _round_half_away(np.float32(0.0) / s_out), qmin)
    hi = min(z + _round_half_away(np.float32(6.0) / s_out), qmax) if op.type == "RELU6" else qmax
    return clamp(z + mul_by_qm(x - _zp(x_t), m, s), lo, hi)


def leaky_relu(r: _Run, op: Op) -> np.ndarray:
    x_t, out_t, x = _requant_args(r, op)
    s_in, s_out = np.float32(_scale(x_t)), np.float32(_scale(out_t))
    real_alpha = s_in * np.float32(op.options.get("alpha", 0.0)) / s_out
    ma, sa = quantize_multiplier(float(abs(real_alpha)))
    mi, si = quantize_multiplier(float(s_in / s_out))
    x = x - _zp(x_t)
    neg = mul_by_qm(x, ma, sa)
    y = np.where(x >= 0, mul_by_qm(x, mi, si), -neg if real_alpha < 0 else neg) + _zp(out_t)
    return clamp(y, *RANGES[out_t.dtype])


# HARD_SWISH ------------------------------------------------------------------------------------------------
def _srdhm16(a, b, rounding: bool = True):
    """Saturating (rounding) doubling high multiply of int16 values; C division truncates toward zero."""
    ab = a * b
    s = ab + np.where(ab >= 0, 1 << 14, 1 - (1 << 14)) if rounding else ab
    q = np.abs(s) >> 15
    return np.where((a == -32768) & (b == -32768), 32767, _wrap16(np.where(s >= 0, q, -q)))


def _rdbp16(x, e: int):
    """RoundingDivideByPOT in int16 arithmetic (mask and threshold cast to int16)."""
    mask = int(_wrap16((1 << e) - 1))
    rem = _wrap16(x & mask)
    thr = _wrap16((mask >> 1) + (x < 0))
    return _wrap16((x >> min(e, 63)) + (rem > thr))


def _sat_shl16(v, amount: int):
    return np.clip(v * (1 << amount), -32768, 32767)


def _q15(m: int) -> int:
    """TFLite's DownScaleInt32ToInt16Multiplier."""
    return 32767 if m >= 2**31 - 1 - (1 << 15) else (m + (1 << 15)) >> 16


def hard_swish(r: _Run, op: Op) -> np.ndarray:
    x_t, out_t, x = _requant_args(r, op, ("int8",))  # LiteRT has no int16 HARD_SWISH
    hires = np.float32(1.0 / 128.0) * np.float32(_scale(x_t))
    m_out, e_out = quantize_multiplier(float(hires / np.float32(_scale(out_t))))
    require(e_out <= 0, op, "an output multiplier >= 1")
    m_rel, e_rel = quantize_multiplier(float(hires / np.float32(3.0 / 32768.0)))
    m_out, m_rel = _q15(m_out), _q15(m_rel)
    x_hires = _wrap16((x - _zp(x_t)) * 128)
    pre_out = _srdhm16(x_hires, m_out)
    rel = x_hires
    if e_rel > 0:
        rel = _sat_shl16(rel, e_rel - 1)
    rel = _srdhm16(rel, m_rel)
    if e_rel > 0:
        rel = _sat_shl16(rel, 1)
    if e_rel < 0:
        rel = _rdbp16(rel, -e_rel)
    rel = _wrap16((rel + (1 << 15)) >> 1)  # [-1, 1] -> [0, 1]
    y = _rdbp16(_srdhm16(rel, pre_out, rounding=False), -e_out)
    return np.clip(_wrap16(y + _zp(out_t)), -128, 127)


# LOGISTIC, TANH ------------------------------------------------------------------------------------------
def _libm():
    """The C library's float32 expf / tanhf, which runtime_c's (and LiteRT's) int8 tables call. numpy's own
    float32 exp/tanh are up to 2 ulp away from them, and even correctly rounded values differ from glibc's
    expf on ~1 input in 1,600, which moves a table entry now and then."""
    for name in (ctypes.util.find_library("m"), None):
        try:
            lib = ctypes.CDLL(name)
            fns = []
            for fn_name in ("expf", "tanhf"):
                fn = getattr(lib, fn_name)
                fn.restype, fn.argtypes = ctypes.c_float, [ctypes.c_float]
                fns.append(np.frompyfunc(lambda v, f=fn: f(float(v)), 1, 1))
            return fns
        except (OSError, AttributeError):
            continue
    return None


_LIBM = _libm()


def _f32(fn_index: int, x: np.ndarray) -> np.ndarray:
    if _LIBM is not None:
        return np.asarray(_LIBM[fn_index](x), np.float64).astype(np.float32)
    f = np.exp if fn_index == 0 else np.tanh  # no C library at hand: correctly rounded float32
    return f(x.astype(np.float64)).astype(np.float32)


def lut_s8(kind: str, in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """The 256-entry table (indexed by input + 128) of runtime_c's int8 LOGISTIC / TANH: dequantize in float,
    f in float, times the float reciprocal of the output scale, roundf, plus the zero point in float,
    truncated and clamped."""
    v = np.arange(-128, 128, dtype=np.float32)
    x = np.float32(in_scale) * (v - np.float32(in_zp))
    if kind == "LOGISTIC":
        with np.errstate(over="ignore"):
            f = np.float32(1.0) / (np.float32(1.0) + _f32(0, -x))
    else:
        f = _f32(1, x)
    inv = np.float32(1.0) / np.float32(out_scale)
    rescaled = np.float32(_round_half_away(f * inv))
    q = np.trunc(rescaled + np.float32(out_zp))  # float add, then C's truncating conversion
    return np.clip(q, -128, 127).astype(np.int64)


_SIGMOID_U16 = np.array([  # runtime_c's eq_sigmoid_table_u16: sigmoid(i / 24) in Q0.16, LiteRT's table
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794, 41432, 42064, 42688,
    43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409,
    51865, 52311, 52745, 53169, 53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433,
    57724, 58007, 58280, 58544, 58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110,
    61279, 61441, 61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990, 63090, 63186,
    63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308,
    64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900,
    64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208,
    65221, 65234, 65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360, 65367,
    65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433, 65438, 65442, 65445, 65449,
    65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474, 65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491,
    65493, 65495, 65497, 65498, 65500, 65501, 65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513,
    65514, 65515, 65516, 65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
    65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529, 65529, 65530, 65530,
    65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533,
    65533, 65533, 65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535,
], np.int64)


def sigmoid_s16_params(op: Op, in_scale: float) -> tuple[int, int]:
    """(multiplier, shift) taking an int16 input to the table's units: 3 << k for input scales 2^-12 (and
    2^-11 for TANH), else in_scale * 3 * 2^12 doubled until above 2^14 - 1/2 and truncated."""
    k = checked_log2(in_scale)
    if k is not None and (k + 12 == 0 or (op.type == "TANH" and k + 12 == 1)):
        return 3 << (k + 12), 0
    m, shift = float(np.float32(in_scale)) * 4096.0 * 3.0, 0
    while m <= 32767.0 / 2.0 and shift <= 30:
        shift += 1
        m *= 2.0
    require(1.0 <= m < 2.0**31, op, f"int16 input scale {in_scale} out of range")
    return int(m), shift


def _sigmoid_s16(op: Op, x: np.ndarray, in_scale: float) -> np.ndarray:
    mult, shift = sigmoid_s16_params(op, in_scale)
    v = _wrap32(x * mult + ((1 << (shift - 1)) if shift > 0 else 0)) >> shift
    ax = np.abs(v)
    tanh = op.type == "TANH"
    step = 8 if tanh else 9  # input units per table step: 2^8 for TANH (of 2x), 2^9 for LOGISTIC
    uh = ax >> step
    idx = np.minimum(uh, 254)
    a, b = _SIGMOID_U16[idx], _SIGMOID_U16[idx + 1]
    interp = (a << step) + (ax & ((1 << step) - 1)) * (b - a)
    if tanh:
        r = np.where(uh >= 255, 0xFFFF << 8, interp)
        r = np.where(v >= 0, r - (1 << 23) + (1 << 7), -r + (1 << 23) + (1 << 7) - 1)
        return _wrap16(r >> 8)
    r = np.where(uh >= 255, 0x7FFF << 10, interp)
    r = np.where(v >= 0, r + (1 << 9), (1 << 25) - r + (1 << 9) - 1)
    return _wrap16(r >> 10)


def logistic_tanh(r: _Run, op: Op) -> np.ndarray:
    x_t, out_t, x = _requant_args(r, op)
    if x_t.dtype == "int16":
        require(checked_log2(_scale(out_t)) == -15, op, "int16 output scale must be 2^-15")
        return _sigmoid_s16(op, x, _scale(x_t))
    if op.type == "LOGISTIC":
        require(np.float32(_scale(out_t)) == np.float32(1.0 / 256.0), op, "int8 LOGISTIC output scale must be 1/256")
    table = lut_s8(op.type, _scale(x_t), _zp(x_t), _scale(out_t), _zp(out_t))
    return table[x + 128]


OPS = {"RELU": relu, "RELU6": relu, "LEAKY_RELU": leaky_relu, "HARD_SWISH": hard_swish,
       "LOGISTIC": logistic_tanh, "TANH": logistic_tanh}
