"""runtime_c against LiteRT's reference kernels on the same inputs: bit-exact or not, and where it starts.

    r = compare("model_int8.tflite", random=10, seed=0)   # or inputs="x.npz" / a folder
    r.bit_exact, r.outputs[0].exact, r.outputs[0].max_abs_diff, r.divergence

Every sample runs through edgeq.runtime (this host's runtime_c build) and LiteRT with
OpResolverType.BUILTIN_REF, the project's bit-exactness oracle (`reference="builtin"` or "xnnpack" compare
with LiteRT's optimized kernels instead, which differ from the reference on some models). On the first
sample whose outputs differ, both run again keeping every intermediate: runtime_c's op outputs are copied
from the per-op hook as each op finishes, LiteRT's come from experimental_preserve_all_tensors; the first
op (in execution order) with an output tensor that differs is the divergence.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .errors import EdgeqError, ModelError

REFERENCES = ("ref", "builtin", "xnnpack")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass
class OutputStats:
    index: int
    name: str
    shape: list[int]
    dtype: str
    exact: int = 0                 # samples whose output is byte-for-byte equal
    samples: int = 0
    max_abs_diff: float = 0.0      # over all samples
    differing_elements: int = 0    # over all samples


@dataclass
class Divergence:
    sample: int
    op_index: int
    op: str
    tensor_index: int
    tensor_name: str
    shape: list[int]
    differing_elements: int
    elements: int
    max_abs_diff: float


@dataclass
class CompareResult:
    model: str
    reference: str
    isa: str                        # runtime_c's kernel variant on this host
    inputs: str                     # where the samples came from
    samples: int
    outputs: list[OutputStats] = field(default_factory=list)
    divergence: Divergence | None = None

    @property
    def bit_exact(self) -> bool:
        return all(o.exact == o.samples for o in self.outputs)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["bit_exact"] = self.bit_exact
        return d


# ---------------------------------------------------------------------------------------------------------
# inputs
def random_inputs(inputs, n: int, seed: int = 0) -> list[list[np.ndarray]]:
    """n samples, one array per model input: integers over the type's whole range, floats ~ N(0, 1)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        xs = []
        for t in inputs:
            if np.issubdtype(t.dtype, np.integer):
                info = np.iinfo(t.dtype)
                xs.append(rng.integers(info.min, int(info.max) + 1, t.shape, dtype=np.int64).astype(t.dtype))
            else:
                xs.append(rng.standard_normal(t.shape).astype(t.dtype))
        out.append(xs)
    return out


def _to_input(a: np.ndarray, t, what: str) -> np.ndarray:
    """One array of the input's shape (or a stack [N, ...]) in its dtype; floats given to integer inputs
    are quantized with the input's scale and zero point."""
    a = np.asarray(a)
    if tuple(a.shape) == tuple(t.shape):
        a = a[None]
    elif a.ndim != len(t.shape) or tuple(a.shape[1:]) != tuple(t.shape[1:]) or a.shape[0] == 0:
        raise EdgeqError(f"{what}: array of shape {list(a.shape)} does not fit input {t.name!r} of shape "
                         f"{list(t.shape)} (give [N, {', '.join(map(str, t.shape[1:]))}] for N samples)")
    if np.issubdtype(a.dtype, np.floating) and np.issubdtype(t.dtype, np.integer):
        if not t.scale:
            raise EdgeqError(f"{what}: float data for input {t.name!r}, which has no quantization scale")
        info = np.iinfo(t.dtype)
        a = np.clip(np.round(a / t.scale) + t.zero_point, info.min, info.max)
    elif np.issubdtype(a.dtype, np.integer) and np.issubdtype(t.dtype, np.integer):
        info = np.iinfo(t.dtype)
        if a.size and (a.min() < info.min or a.max() > info.max):
            raise EdgeqError(f"{what}: values outside {t.dtype} for input {t.name!r}")
    return a.astype(t.dtype)


def _arrays_of(path: Path, inputs) -> list[np.ndarray]:
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                names = z.files
                arrays = [z[t.name] for t in inputs] if all(t.name in names for t in inputs) else [z[k] for k in names]
        elif path.suffix == ".npy":
            arrays = [np.load(path, allow_pickle=False)]
        else:
            raise EdgeqError(f"{path}: inputs must be .npy, .npz or a folder of them (or of images)")
    except ValueError as e:
        raise EdgeqError(f"{path}: not a numpy .npy/.npz file ({e})") from None
    if len(arrays) != len(inputs):
        raise EdgeqError(f"{path}: {len(arrays)} array(s) for a model with {len(inputs)} input(s)")
    return [_to_input(a, t, str(path)) for a, t in zip(arrays, inputs)]


def load_inputs(path: str | Path, inputs) -> list[list[np.ndarray]]:
    """Samples from a .npy (single-input models), a .npz (arrays by input name or in order), or a folder of
    such files or of images (single image input; pixels scaled to [0, 1], then quantized). Each file may
    hold one sample or a stack [N, ...]."""
    path = Path(path)
    if not path.exists():
        raise EdgeqError(f"{path}: no such file or folder")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".npy", ".npz"))
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        if files:
            stacks = [_arrays_of(p, inputs) for p in files]
            per_input = [np.concatenate([s[k] for s in stacks]) for k in range(len(inputs))]
        elif images:
            per_input = [_images(images, inputs, path)]
        else:
            raise EdgeqError(f"{path}: no .npy, .npz or image files in the folder")
    else:
        per_input = _arrays_of(path, inputs)
    n = {a.shape[0] for a in per_input}
    if len(n) != 1:
        raise EdgeqError(f"{path}: the inputs have different sample counts")
    return [[a[k].reshape(t.shape) for a, t in zip(per_input, inputs)] for k in range(n.pop())]


def _images(files: list[Path], inputs, where: Path) -> np.ndarray:
    from .data import ImagePreprocess, load_image

    if len(inputs) != 1 or len(inputs[0].shape) != 4:
        raise EdgeqError(f"{where}: images need a model with one NHWC image input")
    t = inputs[0]
    _, h, w, c = t.shape
    return _to_input(np.stack([load_image(p, h, w, c, ImagePreprocess()) for p in files]), t, str(where))


# ---------------------------------------------------------------------------------------------------------
# running
def _litert(data: bytes, reference: str):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kinds = {"ref": OpResolverType.BUILTIN_REF, "builtin": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
             "xnnpack": OpResolverType.AUTO}
    with warnings.catch_warnings():  # LiteRT warns that keeping intermediates is for debugging: it is
        warnings.simplefilter("ignore")
        it = Interpreter(model_content=data, experimental_op_resolver_type=kinds[reference],
                         experimental_preserve_all_tensors=True, num_threads=1)
    it.allocate_tensors()
    return it


def _litert_run(it, xs) -> list[np.ndarray]:
    for d, x in zip(it.get_input_details(), xs):
        it.set_tensor(d["index"], np.asarray(x, dtype=d["dtype"]).reshape(d["shape"]))
    it.invoke()
    return [it.get_tensor(d["index"]).copy() for d in it.get_output_details()]


def _diff(a: np.ndarray, b: np.ndarray) -> tuple[int, float]:
    """(differing elements, max |a - b|) of two arrays of one shape."""
    if a.shape != b.shape:
        return max(a.size, b.size), float("inf")
    if np.issubdtype(a.dtype, np.floating) or np.issubdtype(b.dtype, np.floating):
        d = np.abs(a.astype(np.float64) - b.astype(np.float64))
        ne = ~((a == b) | (np.isnan(a) & np.isnan(b)))
    else:
        d = np.abs(a.astype(np.int64) - b.astype(np.int64))
        ne = a != b
    return int(ne.sum()), float(d.max()) if d.size else 0.0


def _first_divergence(data: bytes, label: str, litert, xs, sample: int) -> Divergence | None:
    """Re-runs one sample keeping every op output on both sides; the first op whose output differs."""
    from .introspect import RuntimeView

    view = RuntimeView(data, "host", label)
    _, ours = view.run_capture(xs)
    _litert_run(litert, xs)
    for op in range(view.n_ops):
        for idx in view.op_io(op)[1]:
            if idx not in ours:
                continue
            try:
                theirs = litert.get_tensor(idx)
            except ValueError:
                continue  # a tensor LiteRT did not keep
            n, m = _diff(ours[idx], np.asarray(theirs).reshape(ours[idx].shape))
            if n:
                t = view.tensor(idx)
                return Divergence(sample, op, view.op_name(op), idx, t.name, list(t.shape), n, ours[idx].size, m)
    return None


def compare(model: str | Path | bytes, inputs: str | Path | None = None, random: int = 10, seed: int = 0,
            reference: str = "ref", label: str | None = None) -> CompareResult:
    """Runs runtime_c and LiteRT (`reference`: "ref" = BUILTIN_REF, the oracle; "builtin"; "xnnpack") on
    the samples of `inputs` (see load_inputs) or on `random` random samples, and counts equal outputs."""
    from .runtime import Interpreter

    if reference not in REFERENCES:
        raise EdgeqError(f"unknown reference {reference!r} (choose from {', '.join(REFERENCES)})")
    if isinstance(model, (str, Path)):
        label = label or str(model)
        try:
            data = Path(model).read_bytes()
        except OSError as e:
            raise ModelError(f"{model}: cannot read model ({e.strerror})") from None
    else:
        data, label = bytes(model), label or "<model bytes>"
    ours = Interpreter(data)
    ours.source = label
    if inputs is not None:
        samples, source = load_inputs(inputs, ours.inputs), str(inputs)
    else:
        if random < 1:
            raise EdgeqError(f"--random must be at least 1, got {random}")
        samples, source = random_inputs(ours.inputs, random, seed), f"{random} random (seed {seed})"
    try:
        litert = _litert(data, reference)
    except (ValueError, RuntimeError) as e:
        raise ModelError(f"{label}: LiteRT cannot load the model ({' '.join(str(e).split())})") from None
    from .introspect import kernel_isa

    result = CompareResult(label, reference, kernel_isa("host"), source, len(samples),
                           [OutputStats(k, t.name, list(t.shape), str(t.dtype)) for k, t in enumerate(ours.outputs)])
    for s, xs in enumerate(samples):
        ys = ours.run(xs)
        zs = _litert_run(litert, xs)
        differs = False
        for st, y, z in zip(result.outputs, ys, zs):
            n, m = _diff(y, np.asarray(z).reshape(y.shape))
            st.samples += 1
            st.exact += n == 0
            st.differing_elements += n
            st.max_abs_diff = max(st.max_abs_diff, m)
            differs |= n > 0
        if differs and result.divergence is None:
            result.divergence = _first_divergence(data, label, litert, xs, s)
    return result


# ---------------------------------------------------------------------------------------------------------
# presentation
def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.6g}"


def _short(name: str, width: int = 60) -> str:
    return name if len(name) <= width else name[: width // 2 - 1] + "..." + name[-(width // 2 - 2):]


def render(r: CompareResult, console) -> None:
    from rich.table import Table

    ref = {"ref": "LiteRT reference kernels (BUILTIN_REF)", "builtin": "LiteRT builtin kernels",
           "xnnpack": "LiteRT with XNNPACK"}[r.reference]
    console.print(f"[bold]{r.model}[/]: runtime_c ({r.isa}) vs {ref} on {r.inputs}")
    t = Table(show_edge=False, pad_edge=False)
    for col, just in (("output", "left"), ("shape", "left"), ("dtype", "left"), ("bit-exact", "right"),
                      ("max |diff|", "right"), ("differing elements", "right")):
        t.add_column(col, justify=just)
    for o in r.outputs:
        t.add_row(f"{o.index} {_short(o.name, 40)}", "x".join(map(str, o.shape)), o.dtype, f"{o.exact}/{o.samples}",
                  _num(o.max_abs_diff), str(o.differing_elements))
    console.print(t)
    if r.bit_exact:
        console.print(f"[green]bit-exact[/]: every output byte equal on all {r.samples} samples")
        return
    d = r.divergence
    if d is None:
        console.print("[red]outputs differ[/]; no single op output differed when re-run with intermediates kept")
        return
    console.print(f"[red]first divergence[/] (sample {d.sample}): op {d.op_index} {d.op}, output tensor {d.tensor_index} "
                  f"{_short(d.tensor_name)!r} {'x'.join(map(str, d.shape))}: {d.differing_elements}/{d.elements} elements "
                  f"differ, max |diff| {_num(d.max_abs_diff)}")
