"""Calibration: run the float model over the samples and feed one observer per float activation tensor.

Two engines compute the float activations, with the same results (both follow TFLite's float semantics):
- "litert": the float graph (the source .tflite itself when given, else the graph written out) run by LiteRT
  with every intermediate tensor preserved, a whole batch per invoke when the graph allows a batch axis
  (compiled kernels: the fast path);
- "reference": edgeq's numpy float executor, batched.
"auto" takes LiteRT when the graph can be written and run there, the reference executor otherwise.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

from edgeq.errors import CalibrationError, EdgeqError
from edgeq.model.ir import Graph
from edgeq.quantize.observers import Observer, make_observer

ENGINES = ("auto", "litert", "reference")


def check_samples(graph: Graph, samples: Sequence[np.ndarray]) -> int:
    """Number of samples; CalibrationError when empty or when an array does not fit its graph input."""
    if samples is None or len(samples) == 0:
        raise CalibrationError("calibration data is empty")
    if len(samples) != len(graph.inputs):
        raise CalibrationError(f"calibration data has {len(samples)} arrays but the model has "
                               f"{len(graph.inputs)} inputs ({', '.join(graph.inputs)})")
    counts = set()
    for name, arr in zip(graph.inputs, samples):
        arr = np.asarray(arr)
        want = tuple(graph.tensors[name].shape)
        if arr.ndim != len(want) or tuple(arr.shape[1:]) != want[1:]:
            raise CalibrationError(f"calibration data for input {name!r} has shape {arr.shape}; "
                                   f"the model expects (N, {', '.join(map(str, want[1:]))})")
        counts.add(arr.shape[0])
    if len(counts) != 1:
        raise CalibrationError(f"calibration arrays hold different numbers of samples: {sorted(counts)}")
    n = counts.pop()
    if n == 0:
        raise CalibrationError("calibration data is empty (0 samples)")
    return n


def float_activations(graph: Graph) -> list[str]:
    return [n for n in graph.activations() if graph.tensors[n].dtype == "float32"]


def _litert_batches(graph: Graph, samples: Sequence[np.ndarray], names: list[str], batch: int,
                    model: bytes | None = None) -> Iterator[dict[str, np.ndarray]]:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from edgeq.model.tflite_io import write_tflite

    def interpreter(content: bytes):
        it = Interpreter(model_content=content, experimental_preserve_all_tensors=True,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        details = it.get_tensor_details()
        counts: dict[str, int] = {}
        for d in details:
            counts[d["name"]] = counts.get(d["name"], 0) + 1
        return it, {d["name"]: d["index"] for d in details if counts[d["name"]] == 1}

    interp, index = interpreter(model) if model is not None else (None, {})
    if interp is None or any(k not in index for k in [*graph.inputs, *names]):
        # the source file is not this graph's (or names clash): run the graph as edgeq writes it
        interp, index = interpreter(write_tflite(graph))
    in_idx = [index[n] for n in graph.inputs]
    n = samples[0].shape[0]
    chunk = max(1, min(batch, n))
    b = _batched(interp, graph, in_idx, index, names, chunk)
    if b == 1:
        interp.allocate_tensors()
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        if b > 1:  # one invoke per chunk; the last chunk is padded with its first sample, then cut
            for idx, arr in zip(in_idx, samples):
                x = np.ascontiguousarray(arr[start:stop], dtype=np.float32)
                if stop - start < b:
                    x = np.concatenate([x, np.repeat(x[:1], b - (stop - start), axis=0)])
                interp.set_tensor(idx, x)
            interp.invoke()
            yield {k: interp.get_tensor(index[k])[:stop - start] for k in names}
            continue
        acc: dict[str, list[np.ndarray]] = {k: [] for k in names}
        for i in range(start, stop):
            for idx, arr in zip(in_idx, samples):
                interp.set_tensor(idx, np.ascontiguousarray(arr[i:i + 1], dtype=np.float32))
            interp.invoke()
            for k in names:
                acc[k].append(interp.get_tensor(index[k]))
        yield {k: np.concatenate(v) for k, v in acc.items()}


def _batched(interp, graph: Graph, in_idx: list[int], index: dict[str, int], names: list[str], b: int) -> int:
    """Resize the inputs' batch axis to ``b`` and return b when every float activation then has batch b and
    the graph's per-sample shape (a per-sample invoke costs far more than the kernels on small models);
    otherwise (a RESHAPE with a fixed batch of 1, say) restore batch 1 and return 1."""
    shapes = {k: tuple(graph.tensors[k].shape) for k in [*graph.inputs, *names]}
    if b <= 1 or any(len(shapes[n]) == 0 or shapes[n][0] != 1 for n in shapes):
        return 1
    try:
        for n, idx in zip(graph.inputs, in_idx):
            interp.resize_tensor_input(idx, [b, *shapes[n][1:]], strict=False)
        interp.allocate_tensors()
        by_index = {d["index"]: tuple(d["shape"]) for d in interp.get_tensor_details()}
        if all(by_index[index[k]] == (b, *shapes[k][1:]) for k in names):
            return b
    except (RuntimeError, ValueError):
        pass
    for n, idx in zip(graph.inputs, in_idx):
        interp.resize_tensor_input(idx, list(shapes[n]), strict=False)
    return 1


def _reference_batches(graph: Graph, samples: Sequence[np.ndarray], names: list[str],
                       batch: int) -> Iterator[dict[str, np.ndarray]]:
    from edgeq.reference.float_exec import run_float

    n = samples[0].shape[0]
    for start in range(0, n, batch):
        chunk = [np.asarray(a[start:start + batch], np.float32) for a in samples]
        acts = run_float(graph, chunk, capture=names, batch=batch)
        yield {k: acts[k] for k in names}


def activation_batches(graph: Graph, samples: Sequence[np.ndarray], *, engine: str = "auto",
                       batch: int = 16, model: bytes | None = None) -> Iterator[dict[str, np.ndarray]]:
    """Yield {tensor name: float activations of ``batch`` samples} for every float activation tensor.

    ``model``: the float .tflite ``graph`` was read from, run as it is by the LiteRT engine (saves writing
    the graph out again) when it has every tensor of the graph under the same name."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    names = float_activations(graph)
    if engine in ("auto", "litert"):
        try:
            gen = _litert_batches(graph, samples, names, batch, model)
            first = next(gen)
        except EdgeqError:
            if engine == "litert":
                raise
        except (RuntimeError, ValueError, KeyError) as e:
            if engine == "litert":
                raise CalibrationError(f"LiteRT cannot run the float model: {e}") from None
        else:
            yield first
            yield from gen
            return
    yield from _reference_batches(graph, samples, names, batch)


class Stats:
    """What calibration gathered over some samples: one observer per float activation tensor, and the
    per-channel sums of every input of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED (for bias correction)."""

    def __init__(self, observers: dict[str, Observer], want_mean: set[str]):
        self.observers, self.want_mean = observers, want_mean
        self.sums: dict[str, np.ndarray] = {}
        self.counts: dict[str, int] = {}

    def update(self, acts: dict[str, np.ndarray], lo: int = 0, hi: int | None = None, rows: int = 0) -> None:
        """Feed samples [lo, hi) of a batch of ``rows`` samples (all of it by default). A tensor whose first
        axis holds k rows per sample (an FC that flattens [1, h, w, c] to h·w rows) is cut at k·lo, k·hi."""
        for k, obs in self.observers.items():
            a = acts[k]
            if hi is not None:
                per = a.shape[0] // rows if rows and a.shape[0] % rows == 0 else 0
                a = a[per * lo:per * hi] if per else (a if lo == 0 else a[:0])
            if a.shape[0] == 0:
                continue
            obs.update(a)
            if k in self.want_mean:
                flat = a.reshape(-1, a.shape[-1]) if a.ndim > 1 else a.reshape(-1, 1)
                self.sums[k] = self.sums.get(k, 0.0) + flat.sum(axis=0, dtype=np.float64)
                self.counts[k] = self.counts.get(k, 0) + flat.shape[0]

    def merged(self, other: "Stats") -> "Stats":
        out = Stats({k: o.merged(other.observers[k]) for k, o in self.observers.items()}, self.want_mean)
        for k in set(self.sums) | set(other.sums):
            out.sums[k] = self.sums.get(k, 0.0) + other.sums.get(k, 0.0)
            out.counts[k] = self.counts.get(k, 0) + other.counts.get(k, 0)
        return out

    def ranges(self, exact: Iterable[str] = (), extremes: bool = False) -> dict[str, tuple[float, float]]:
        """The observers' ranges; the exact min/max for tensors in ``exact`` (or for all with ``extremes``)."""
        exact = set(exact)
        return {k: obs.extremes() if extremes or k in exact else obs.range() for k, obs in self.observers.items()}

    def means(self) -> dict[str, np.ndarray]:
        return {k: (self.sums[k] / self.counts[k]).astype(np.float32) for k in self.sums}


BATCH = 16  # samples per float invoke, for models with large activations
BATCH_BYTES = 1 << 20  # small models take up to this many bytes of float activations per invoke instead


def auto_batch(graph: Graph, n: int) -> int:
    """Samples per invoke: BATCH, or more for a model whose activations are small (AD's 20 vectors in one
    invoke rather than 16 + 16 padded: a third less float work and one interpreter round trip less); large
    activations run faster in batches of 16 that stay in cache."""
    per_sample = sum(4 * int(np.prod(graph.tensors[k].shape[1:], dtype=np.int64)) for k in float_activations(graph))
    return max(BATCH, min(n, BATCH_BYTES // max(per_sample, 1)))


def collect_stats(graph: Graph, samples: Sequence[np.ndarray], method: str = "minmax", *,
                  percentile: float = 99.99, engine: str = "auto", batch: int | None = None, progress: bool = True,
                  observer_factory: Callable[[], Observer] | None = None, model: bytes | None = None,
                  split: int | None = None, capture: Iterable[str] = ()
                  ) -> tuple[Stats, Stats | None, dict[str, np.ndarray]]:
    """One float pass over ``samples``: (Stats of samples [0, split), Stats of [split, n) or None without
    ``split``, {name: float values of the ``capture`` tensors on samples [split, n)})."""
    n = check_samples(graph, samples)
    batch = batch or auto_batch(graph, n)
    factory = observer_factory or (lambda: make_observer(method, percentile=percentile))
    want_mean = {op.inputs[0] for op in graph.ops if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")}
    names = float_activations(graph)
    first = Stats({k: factory() for k in names}, want_mean)
    second = Stats({k: factory() for k in names}, want_mean) if split is not None else None
    split = n if split is None else split
    capture = [k for k in capture if k in first.observers]
    caught: dict[str, list[np.ndarray]] = {k: [] for k in capture}
    start = 0
    with _progress(progress, n, f"calibrating ({method})") as advance:
        for acts in activation_batches(graph, samples, engine=engine, batch=batch, model=model):
            rows = min(batch, n - start)  # samples in this batch
            if second is None:
                first.update(acts)
            else:
                cut = min(max(split - start, 0), rows)  # samples [0, cut) of this batch belong to the first part
                first.update(acts, 0, cut, rows)
                second.update(acts, cut, rows, rows)
                for k in capture:
                    per = acts[k].shape[0] // rows
                    caught[k].append(np.array(acts[k][per * cut:per * rows]))
            start += rows
            advance(rows)
    return first, second, {k: np.concatenate(v) for k, v in caught.items() if v}


def calibrate_stats(graph: Graph, samples: Sequence[np.ndarray], method: str = "minmax", *,
                    percentile: float = 99.99, engine: str = "auto", batch: int | None = None, progress: bool = True,
                    observer_factory: Callable[[], Observer] | None = None, exact: Iterable[str] = (),
                    model: bytes | None = None) -> tuple[dict[str, tuple[float, float]], dict[str, np.ndarray]]:
    """calibrate() plus the mean along the last (channel) axis of every input of CONV_2D, DEPTHWISE_CONV_2D and
    FULLY_CONNECTED, which the quantizer uses to correct the bias shift that weight rounding causes.

    Tensors named in ``exact`` get the exact min/max seen whatever the method (see ptq.head_tensors)."""
    stats = collect_stats(graph, samples, method, percentile=percentile, engine=engine, batch=batch,
                          progress=progress, observer_factory=observer_factory, model=model)[0]
    return stats.ranges(exact), stats.means()


def calibrate(graph: Graph, samples: Sequence[np.ndarray], method: str = "minmax", *,
              percentile: float = 99.99, engine: str = "auto", batch: int | None = None, progress: bool = True,
              observer_factory: Callable[[], Observer] | None = None) -> dict[str, tuple[float, float]]:
    """Run ``graph`` in float over ``samples`` (one array per graph input, samples on axis 0) and return the
    (rmin, rmax) that ``method``'s observer picked for every float activation tensor (graph inputs included)."""
    return calibrate_stats(graph, samples, method, percentile=percentile, engine=engine, batch=batch,
                           progress=progress, observer_factory=observer_factory)[0]


class _progress:
    """A rich progress bar over samples, or nothing."""

    def __init__(self, enabled: bool, total: int, label: str):
        self.enabled, self.total, self.label = enabled, total, label
        self.bar = None

    def __enter__(self):
        if not self.enabled:
            return lambda k: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), transient=True)
        self.bar.start()
        task = self.bar.add_task(self.label, total=self.total)
        return lambda k: self.bar.advance(task, k)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False
