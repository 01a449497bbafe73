"""Calibration: run the float model over the samples and feed one observer per float activation tensor.

Two engines compute the float activations, with the same results (both follow TFLite's float semantics):
- "litert": the float graph written to .tflite and run by LiteRT with every intermediate tensor preserved
  (one sample per invoke, compiled kernels: the fast path);
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


def _litert_batches(graph: Graph, samples: Sequence[np.ndarray], names: list[str],
                    batch: int) -> Iterator[dict[str, np.ndarray]]:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from edgeq.model.tflite_io import write_tflite

    interp = Interpreter(model_content=write_tflite(graph), experimental_preserve_all_tensors=True,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    index = {d["name"]: d["index"] for d in interp.get_tensor_details()}
    in_idx = [index[n] for n in graph.inputs]
    n = samples[0].shape[0]
    for start in range(0, n, batch):
        acc: dict[str, list[np.ndarray]] = {k: [] for k in names}
        for i in range(start, min(n, start + batch)):
            for idx, arr in zip(in_idx, samples):
                interp.set_tensor(idx, np.ascontiguousarray(arr[i:i + 1], dtype=np.float32))
            interp.invoke()
            for k in names:
                acc[k].append(interp.get_tensor(index[k]))
        yield {k: np.concatenate(v) for k, v in acc.items()}


def _reference_batches(graph: Graph, samples: Sequence[np.ndarray], names: list[str],
                       batch: int) -> Iterator[dict[str, np.ndarray]]:
    from edgeq.reference.float_exec import run_float

    n = samples[0].shape[0]
    for start in range(0, n, batch):
        chunk = [np.asarray(a[start:start + batch], np.float32) for a in samples]
        acts = run_float(graph, chunk, capture=names, batch=batch)
        yield {k: acts[k] for k in names}


def activation_batches(graph: Graph, samples: Sequence[np.ndarray], *, engine: str = "auto",
                       batch: int = 16) -> Iterator[dict[str, np.ndarray]]:
    """Yield {tensor name: float activations of ``batch`` samples} for every float activation tensor."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    names = float_activations(graph)
    if engine in ("auto", "litert"):
        try:
            gen = _litert_batches(graph, samples, names, batch)
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


def calibrate_stats(graph: Graph, samples: Sequence[np.ndarray], method: str = "minmax", *,
                    percentile: float = 99.99, engine: str = "auto", batch: int = 16, progress: bool = True,
                    observer_factory: Callable[[], Observer] | None = None, exact: Iterable[str] = (),
                    ) -> tuple[dict[str, tuple[float, float]], dict[str, np.ndarray]]:
    """calibrate() plus the mean along the last (channel) axis of every input of CONV_2D, DEPTHWISE_CONV_2D and
    FULLY_CONNECTED, which the quantizer uses to correct the bias shift that weight rounding causes.

    Tensors named in ``exact`` get the exact min/max seen whatever the method (see ptq.head_tensors)."""
    n = check_samples(graph, samples)
    factory = observer_factory or (lambda: make_observer(method, percentile=percentile))
    observers = {k: factory() for k in float_activations(graph)}
    want_mean = {op.inputs[0] for op in graph.ops if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")}
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    with _progress(progress, n, f"calibrating ({method})") as advance:
        for acts in activation_batches(graph, samples, engine=engine, batch=batch):
            done = 0
            for k, obs in observers.items():
                a = acts[k]
                obs.update(a)
                done = a.shape[0]
                if k not in want_mean:
                    continue
                flat = a.reshape(-1, a.shape[-1]) if a.ndim > 1 else a.reshape(-1, 1)
                sums[k] = sums.get(k, 0.0) + flat.sum(axis=0, dtype=np.float64)
                counts[k] = counts.get(k, 0) + flat.shape[0]
            advance(done)
    exact = set(exact)
    ranges = {k: obs.extremes() if k in exact else obs.range() for k, obs in observers.items()}
    means = {k: (sums[k] / counts[k]).astype(np.float32) for k in sums}
    return ranges, means


def calibrate(graph: Graph, samples: Sequence[np.ndarray], method: str = "minmax", *,
              percentile: float = 99.99, engine: str = "auto", batch: int = 16, progress: bool = True,
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
