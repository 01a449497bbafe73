"""Calibration data: turn images, .npy/.npz files, raw float32 .bin files or Python samples into model inputs.

``load_calibration`` returns one array per graph input (in ``graph.inputs`` order), the samples stacked on
the first axis where the model has its batch axis: ``x[i:i+1]`` is one model input. Arrays are in the
*graph's* layout (NHWC): data given in the source model's layout (NCHW for ONNX) is transposed with
``graph.input_perm``. Images are decoded straight into the graph's layout.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from fractions import Fraction
from pathlib import Path

import numpy as np

from .errors import CalibrationError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
RESIZE_MODES = ("stretch", "crop", "pad")


# ---------------------------------------------------------------------------------------------------------
# preprocessing spec
@dataclass
class ImagePreprocess:
    """How images become model inputs: ``x = (pixel * scale - mean) / std`` per channel, after resizing.

    size    (height, width); ``None`` takes it from the model input.
    scale   multiplier applied to 0..255 pixels (1/255 maps them to [0, 1]).
    mean    one value, or one per channel in the model's channel order; subtracted after ``scale``.
    std     one value, or one per channel; divides after ``mean``.
    order   "rgb" or "bgr": the channel order the model expects (1-channel models get grayscale).
    resize  "stretch" (ignore aspect ratio), "crop" (fill, then centre-crop) or "pad" (fit, then pad
            with black).
    layout  "nhwc" or "nchw": the layout of the model input the images fill. Graphs edgeq builds are
            NHWC; "nchw" is for .tflite models whose image input is channel-first.
    """

    size: tuple[int, int] | None = None
    scale: float = 1.0 / 255.0
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    order: str = "rgb"
    resize: str = "stretch"
    layout: str = "nhwc"

    def __post_init__(self):
        self.mean = tuple(float(m) for m in np.atleast_1d(self.mean))
        self.std = tuple(float(s) for s in np.atleast_1d(self.std))
        self.order = self.order.lower()
        self.resize = self.resize.lower()
        self.layout = self.layout.lower()
        if self.size is not None:
            self.size = (int(self.size[0]), int(self.size[1]))
            if min(self.size) <= 0:
                raise CalibrationError(f"preprocess: size must be positive, got {self.size[0]}x{self.size[1]}")
        if self.order not in ("rgb", "bgr"):
            raise CalibrationError(f"preprocess: order must be rgb or bgr, got {self.order!r}")
        if self.resize not in RESIZE_MODES:
            raise CalibrationError(f"preprocess: resize must be one of {', '.join(RESIZE_MODES)}, got {self.resize!r}")
        if self.layout not in ("nhwc", "nchw"):
            raise CalibrationError(f"preprocess: layout must be nhwc or nchw, got {self.layout!r}")
        if any(s == 0 for s in self.std):
            raise CalibrationError("preprocess: std must not be 0")

    @classmethod
    def parse(cls, spec: str) -> "ImagePreprocess":
        """Parse ``"size=96x96,scale=1/255,mean=0.5,std=0.5,order=rgb,resize=crop,layout=nhwc"``.

        Per-channel mean/std are separated by ``:`` (``mean=0.485:0.456:0.406``); any key may be left out.
        """
        known = {f.name for f in fields(cls)}
        kw: dict = {}
        for item in filter(None, (s.strip() for s in spec.split(","))):
            key, sep, value = item.partition("=")
            key, value = key.strip().lower(), value.strip()
            if not sep or key not in known:
                raise CalibrationError(
                    f"preprocess: cannot read {item!r}; expected key=value with keys {', '.join(sorted(known))}")
            try:
                if key == "size":
                    h, _, w = value.lower().partition("x")
                    kw["size"] = (int(h), int(w or h))
                elif key == "scale":
                    kw["scale"] = float(Fraction(value))
                elif key in ("mean", "std"):
                    kw[key] = tuple(float(Fraction(v)) for v in value.split(":"))
                else:
                    kw[key] = value
            except (ValueError, ZeroDivisionError):
                raise CalibrationError(f"preprocess: bad value for {key}: {value!r}") from None
        return cls(**kw)


# ---------------------------------------------------------------------------------------------------------
# model input description
@dataclass
class _Input:
    name: str
    shape: tuple[int, ...]  # in the graph's layout, batch first (1 or -1 for dynamic)
    dtype: str
    perm: tuple[int, ...] | None = None  # source layout -> graph layout
    source_shape: tuple[int, ...] = field(init=False)

    def __post_init__(self):
        if self.perm is None:
            self.source_shape = self.shape
        else:
            src = [0] * len(self.shape)
            for j, p in enumerate(self.perm):
                src[p] = self.shape[j]
            self.source_shape = tuple(src)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample in the source layout, without the batch axis."""
        return self.source_shape[1:]


def _inputs(graph) -> list[_Input]:
    out = []
    for name in graph.inputs:
        t = graph.tensors[name]
        perm = graph.input_perm.get(name)
        if t.shape and t.shape[0] not in (1, -1, 0):
            raise CalibrationError(
                f"input {name!r} has batch size {t.shape[0]} (shape {list(t.shape)}); edgeq calibrates batch-1 models")
        if not t.shape:
            raise CalibrationError(f"input {name!r} is a scalar; edgeq calibrates inputs with a batch axis")
        out.append(_Input(name, tuple(t.shape), t.dtype, tuple(perm) if perm is not None else None))
    if not out:
        raise CalibrationError(f"model {graph.name!r} has no inputs to calibrate")
    return out


def _fmt(shape) -> str:
    return "[" + ", ".join("?" if d in (-1, None) else str(d) for d in shape) + "]"


def _shape_ok(got: tuple[int, ...], want: tuple[int, ...]) -> bool:
    return len(got) == len(want) and all(w in (-1, None) or g == w for g, w in zip(got, want))


def _finish(inp: _Input, arr: np.ndarray, what: str) -> np.ndarray:
    """Check one stacked source-layout array against the input and move it into the graph's layout."""
    arr = np.asarray(arr)
    if arr.dtype.kind not in "fiub":
        raise CalibrationError(f"{what}: dtype {arr.dtype} cannot feed input {inp.name!r} ({inp.dtype})")
    if arr.dtype.kind == "b":
        raise CalibrationError(f"{what}: boolean data cannot feed input {inp.name!r} ({inp.dtype})")
    want = inp.sample_shape
    # Accept (N, *sample) and (N, 1, *sample) (samples that each carry the batch axis).
    if arr.ndim == len(want) + 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if not _shape_ok(arr.shape[1:], want):
        raise CalibrationError(
            f"{what}: shape {_fmt(arr.shape)} does not match input {inp.name!r} of shape {_fmt(inp.source_shape)} "
            f"(expected {_fmt(('N',) + want)})")
    if arr.shape[0] == 0:
        raise CalibrationError(f"{what}: no samples for input {inp.name!r}")
    dtype = np.float32 if inp.dtype.startswith("float") else np.dtype(inp.dtype)
    out = arr.astype(dtype, copy=False)
    if out.dtype.kind == "f" and not np.all(np.isfinite(out)):
        raise CalibrationError(f"{what}: input {inp.name!r} data contains NaN or inf")
    if inp.perm is not None:
        out = np.transpose(out, inp.perm)
    return np.ascontiguousarray(out)


# ---------------------------------------------------------------------------------------------------------
# images
def _image_geometry(inp: _Input, pre: ImagePreprocess) -> tuple[int, int, int]:
    """(height, width, channels) the images must have for this input (graph layout)."""
    shape = inp.shape
    if len(shape) == 4:
        h, w, c = (shape[1], shape[2], shape[3]) if pre.layout == "nhwc" else (shape[2], shape[3], shape[1])
    elif len(shape) == 3:  # [N, H, W]: grayscale without a channel axis
        h, w, c = shape[1], shape[2], 0
    else:
        raise CalibrationError(f"input {inp.name!r} of shape {_fmt(shape)} is not an image input; "
                               "give calibration data as .npy/.npz instead")
    if pre.size is not None:
        h, w = pre.size
    if h in (-1, None) or w in (-1, None):
        raise CalibrationError(f"input {inp.name!r} has a dynamic size {_fmt(shape)}; give size=HxW in the preprocess spec")
    if c not in (0, 1, 3, 4):
        raise CalibrationError(f"input {inp.name!r} has {c} channels; images give 1, 3 or 4")
    return h, w, c


def _fit(img, h: int, w: int, mode: str):
    from PIL import Image

    iw, ih = img.size
    if mode == "stretch":
        return img.resize((w, h), Image.BILINEAR)
    if mode == "crop":  # scale to cover, centre-crop
        r = max(w / iw, h / ih)
        nw, nh = max(w, round(iw * r)), max(h, round(ih * r))
        img = img.resize((nw, nh), Image.BILINEAR)
        left, top = (nw - w) // 2, (nh - h) // 2
        return img.crop((left, top, left + w, top + h))
    r = min(w / iw, h / ih)  # pad: scale to fit, centre on black
    nw, nh = max(1, round(iw * r)), max(1, round(ih * r))
    canvas = Image.new(img.mode, (w, h))
    canvas.paste(img.resize((nw, nh), Image.BILINEAR), ((w - nw) // 2, (h - nh) // 2))
    return canvas


def load_image(path: str | os.PathLike, height: int, width: int, channels: int,
               pre: ImagePreprocess) -> np.ndarray:
    """One image as a float32 [height, width, channels] array (channels=0: [height, width]), preprocessed."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            mode = {0: "L", 1: "L", 3: "RGB", 4: "RGBA"}[channels]
            img = _fit(im.convert(mode), height, width, pre.resize)
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise CalibrationError(f"cannot read image {path}: {e}") from None
    x = np.asarray(img, dtype=np.float32)
    if x.ndim == 2 and channels:
        x = x[:, :, None]
    if channels >= 3 and pre.order == "bgr":
        x = x[:, :, [2, 1, 0] + list(range(3, channels))]
    nc = max(channels, 1)
    for name, v in (("mean", pre.mean), ("std", pre.std)):
        if len(v) not in (1, nc):
            raise CalibrationError(f"preprocess: {name} has {len(v)} values but the input has {nc} channels")
    return (x * np.float32(pre.scale) - np.asarray(pre.mean, np.float32)) / np.asarray(pre.std, np.float32)


def image_files(directory: str | os.PathLike) -> list[Path]:
    """The images under ``directory`` (recursively, sorted so every run calibrates on the same order)."""
    d = Path(directory)
    files = sorted(p for p in d.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        if not any(d.iterdir()):
            raise CalibrationError(f"calibration directory {d} is empty")
        raise CalibrationError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in calibration directory {d}")
    return files


def _from_images(directory: Path, inputs: list[_Input], pre: ImagePreprocess | None,
                 limit: int | None) -> list[np.ndarray]:
    files = image_files(directory)
    if len(inputs) != 1:
        raise CalibrationError(f"the model has {len(inputs)} inputs; a directory of images can feed only one "
                               "(give an .npz with one array per input)")
    inp, pre = inputs[0], pre or ImagePreprocess()
    h, w, c = _image_geometry(inp, pre)
    files = files[:limit] if limit else files
    batch = np.stack([load_image(f, h, w, c, pre) for f in files])
    if pre.layout == "nchw" and c:
        batch = batch.transpose(0, 3, 1, 2)
    if not _shape_ok(batch.shape[1:], inp.shape[1:]):
        raise CalibrationError(f"images of {_fmt(batch.shape[1:])} (from size={h}x{w}) do not match input "
                               f"{inp.name!r} of shape {_fmt(inp.shape)}")
    dtype = np.float32 if inp.dtype.startswith("float") else np.dtype(inp.dtype)
    return [np.ascontiguousarray(batch.astype(dtype))]


# ---------------------------------------------------------------------------------------------------------
# arrays
def _from_arrays(arrays: Mapping[str, np.ndarray] | list[np.ndarray], inputs: list[_Input], what: str,
                 limit: int | None) -> list[np.ndarray]:
    if isinstance(arrays, Mapping):
        names = [i.name for i in inputs]
        if all(n in arrays for n in names):
            picked = [arrays[n] for n in names]
        elif len(arrays) == len(inputs):  # no names match: take them in order
            picked = list(arrays.values())
        else:
            missing = [n for n in names if n not in arrays]
            raise CalibrationError(f"{what}: has arrays {sorted(arrays)} but the model's inputs are {names} "
                                   f"(missing {missing})")
    else:
        picked = list(arrays)
    if len(picked) != len(inputs):
        raise CalibrationError(f"{what}: {len(picked)} array(s) for a model with {len(inputs)} input(s)")
    out = [_finish(inp, a[:limit] if limit else a, what) for inp, a in zip(inputs, picked)]
    if len({a.shape[0] for a in out}) > 1:
        raise CalibrationError(f"{what}: the inputs have different sample counts {[a.shape[0] for a in out]}")
    return out


def _from_file(path: Path, inputs: list[_Input], limit: int | None) -> list[np.ndarray]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return _from_arrays([np.load(path, allow_pickle=False)], inputs, str(path), limit)
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            if not arrays:
                raise CalibrationError(f"{path}: the .npz holds no arrays")
            return _from_arrays(arrays, inputs, str(path), limit)
        if suffix == ".bin":
            return _from_raw(path, inputs, limit)
    except (ValueError, OSError, EOFError) as e:
        raise CalibrationError(f"cannot read calibration file {path}: {e}") from None
    if suffix in IMAGE_SUFFIXES:
        raise CalibrationError(f"{path} is a single image; put calibration images in a directory")
    raise CalibrationError(f"{path}: unknown calibration file type {suffix!r} (use a directory of images, "
                           ".npy, .npz or .bin)")


def _from_raw(path: Path, inputs: list[_Input], limit: int | None) -> list[np.ndarray]:
    """Raw little-endian float32 samples back to back, for a single-input model."""
    if len(inputs) != 1:
        raise CalibrationError(f"{path}: a raw .bin file feeds a single-input model; this one has {len(inputs)}")
    flat = np.fromfile(path, dtype="<f4")
    inp = inputs[0]
    n = int(np.prod(inp.sample_shape))
    if n <= 0 or flat.size == 0 or flat.size % n:
        raise CalibrationError(f"{path}: {flat.size} float32 values are not a whole number of samples of input "
                               f"{inp.name!r} of shape {_fmt(inp.source_shape)}")
    return _from_arrays([flat.reshape((-1,) + inp.sample_shape)], inputs, str(path), limit)


def _from_samples(samples: Iterable, inputs: list[_Input], limit: int | None) -> list[np.ndarray]:
    """An iterable of samples: each an array (single input), a sequence of arrays, or a dict by input name."""
    per_input: list[list[np.ndarray]] = [[] for _ in inputs]
    for k, s in enumerate(samples):
        if limit and k >= limit:
            break
        if isinstance(s, Mapping):
            try:
                parts = [s[i.name] for i in inputs]
            except KeyError as e:
                raise CalibrationError(f"calibration sample {k} has no array for input {e.args[0]!r}") from None
        elif isinstance(s, (list, tuple)) and len(inputs) > 1:
            parts = list(s)
        else:
            parts = [s]
        if len(parts) != len(inputs):
            raise CalibrationError(f"calibration sample {k} has {len(parts)} array(s); the model has {len(inputs)} inputs")
        for j, (inp, p) in enumerate(zip(inputs, parts)):
            p = np.asarray(p)
            if p.ndim == len(inp.sample_shape) + 1 and p.shape[0] == 1:
                p = p[0]  # the sample carries the batch axis
            if not _shape_ok(p.shape, inp.sample_shape):
                raise CalibrationError(
                    f"calibration sample {k}: shape {_fmt(p.shape)} does not match input {inp.name!r} "
                    f"of shape {_fmt(inp.source_shape)}")
            per_input[j].append(p)
    if not per_input[0]:
        raise CalibrationError("the calibration set is empty")
    return [_finish(inp, np.stack(ps), "calibration samples") for inp, ps in zip(inputs, per_input)]


# ---------------------------------------------------------------------------------------------------------
def load_calibration(source, graph, preprocess: ImagePreprocess | str | None = None, *,
                     limit: int | None = None) -> list[np.ndarray]:
    """Calibration samples for ``graph``: one array per graph input, samples on axis 0, graph layout.

    ``source`` is a directory of images (.jpg/.png/.bmp, searched recursively, read in sorted order and
    preprocessed with ``preprocess``), a ``.npy`` (single-input models), a ``.npz`` (arrays named by input,
    or in input order), a ``.bin`` of raw float32 samples, a numpy array, a dict of arrays by input name,
    or an iterable of samples. Array data is in the source model's layout (NCHW for ONNX models).
    ``limit`` keeps the first ``limit`` samples. Raises CalibrationError naming the input and both shapes
    when the data does not fit the model.
    """
    if isinstance(preprocess, str):
        preprocess = ImagePreprocess.parse(preprocess)
    if limit is not None and limit <= 0:
        raise CalibrationError(f"limit must be positive, got {limit}")
    inputs = _inputs(graph)
    if source is None:
        raise CalibrationError("no calibration data given")
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise CalibrationError(f"calibration data {path} does not exist")
        if path.is_dir():
            return _from_images(path, inputs, preprocess, limit)
        return _from_file(path, inputs, limit)
    if isinstance(source, np.ndarray):
        return _from_arrays([source], inputs, "calibration array", limit)
    if isinstance(source, Mapping):
        return _from_arrays(source, inputs, "calibration arrays", limit)
    if isinstance(source, Iterable):
        return _from_samples(source, inputs, limit)
    raise CalibrationError(f"cannot use a {type(source).__name__} as calibration data")
