"""The `edgeq` command line: thin verbs over the package's functions.

Every verb parses its options, calls one function of the package and prints the result with rich. Errors a
user can act on (EdgeqError, and OSError for files that cannot be read or written) become ONE line
``edgeq: error: <message>`` on stderr and exit code 2; anything unexpected is reported the same way as
``internal error: ...``. ``--debug`` (or EDGEQ_DEBUG=1) shows the traceback instead. A verb that writes files
writes them atomically, so a failure never leaves a partial output behind.
"""
from __future__ import annotations

import functools
import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from . import __version__
from .errors import EdgeqError

MODEL_HELP = "A quantized .tflite: int8, INT4 weights, 16x8 or dynamic range."

app = typer.Typer(
    name="edgeq",
    help=(
        "Quantize float neural networks (.tflite / .onnx) to integer .tflite models (INT8, INT4 weights, 16x8, "
        "mixed precision, dynamic range), run them on edgeq's C runtime and on boards, and inspect them.\n\n"
        "Typical use:\n\n"
        "  edgeq convert model.tflite -o model_int8.tflite --calib images/ --method kl\n\n"
        "  edgeq convert model.onnx -o model_int8.tflite --calib calib.npz --io float\n\n"
        "  edgeq convert model.tflite -o model_w4.tflite --calib images/ --weights int4 --recover cle,bias,adaround\n\n"
        "  edgeq inspect model_int8.tflite\n\n"
        "  edgeq compare model_int8.tflite --random 100\n\n"
        "  edgeq analyze model_int8.tflite\n\n"
        "  edgeq generate model_int8.tflite -o firmware/\n\n"
        "Errors print one line and exit with code 2; add --debug (or set EDGEQ_DEBUG=1) for a traceback."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_state = {"debug": False}


def _debug() -> bool:
    return _state["debug"] or os.environ.get("EDGEQ_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


def _out() -> Console:
    # Piped output (files, CI logs) gets wide tables instead of rich's 80-column fallback.
    return Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 120)


def _one_line(msg: str) -> str:
    return " ".join(str(msg).split())


def _os_message(e: OSError) -> str:
    what = e.strerror or str(e)
    return f"{e.filename}: {what}" if e.filename else what


def guarded(verb):
    """Turn the verb's exceptions into the one-line error contract (or a traceback with --debug)."""

    @functools.wraps(verb)
    def run(*args, **kwargs):
        try:
            return verb(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except Exception as e:  # noqa: BLE001 - the whole point is to catch everything
            if _debug():
                raise
            if isinstance(e, EdgeqError):
                msg = str(e)
            elif isinstance(e, OSError):
                msg = _os_message(e)
            else:
                msg = f"internal error: {type(e).__name__}: {e}"
            sys.stderr.write(f"edgeq: error: {_one_line(msg)}\n")
            sys.stderr.flush()
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            sys.stderr.write("edgeq: error: interrupted\n")
            raise typer.Exit(130) from None

    return run


def _version(value: bool):
    if value:
        print(f"edgeq {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks instead of one-line errors "
                               "(same as EDGEQ_DEBUG=1)."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the edgeq version and exit."),
):
    _state["debug"] = debug


# ---------------------------------------------------------------------------------------------------------
# convert
class Method(str, Enum):
    auto = "auto"
    minmax = "minmax"
    ema = "ema"
    percentile = "percentile"
    kl = "kl"
    mse = "mse"


class IoType(str, Enum):
    int8 = "int8"
    uint8 = "uint8"
    float = "float"


DEFAULT_METHOD = Method.auto  # edgeq.converter.DEFAULT_METHOD (a test keeps them equal; importing it here is slow)


def _default_output(src: Path) -> Path:
    return src.with_name(f"{src.stem}_int8.tflite")


@app.command(
    help=(
        "Quantize a float .tflite or .onnx model to an integer .tflite: full-integer INT8 unless asked otherwise.\n\n"
        "Weights become int8 per output channel (symmetric); activations int8 per tensor, with ranges "
        "measured on the calibration data (--calib). The data is in the source model's layout: NCHW for "
        "ONNX. The written .tflite always takes NHWC image inputs; the summary says when that differs "
        "from the source.\n\n"
        "Calibration data: a directory of images (.jpg/.png/.bmp, preprocessed with --preprocess), a .npy "
        "(one array, first axis = sample), a .npz (one array per model input, by name or in order) or a "
        ".bin of raw float32 samples.\n\n"
        "Low-bit: --weights int4 (packed INT4 weights), --activations int16 (16x8), --dynamic (int8 weights, "
        "float activations), --mixed with --budget / --target-sqnr (a precision per layer), --recover "
        "(accuracy recovery passes) and --report (per-layer SQNR, sizes, precisions).\n\n"
        "Example:  edgeq convert model.onnx -o model_int8.tflite --calib calib.npz --method kl\n\n"
        "Example:  edgeq convert model.tflite -o model_w4.tflite --calib images/ --weights int4 "
        "--recover cle,bias,adaround"
    ),
    no_args_is_help=True,
)
@guarded
def convert(
    src: Path = typer.Argument(..., metavar="SRC", help="Float model: .tflite or .onnx.", show_default=False),
    output: Optional[Path] = typer.Option(None, "-o", "--output",
                                          help="Where to write the .tflite [default: <src>_int8.tflite]."),
    calib: Optional[str] = typer.Option(None, "--calib", "-c", help="Calibration data: image directory, .npy, "
                                        ".npz or .bin (required except with --dynamic).", show_default=False),
    method: Method = typer.Option(DEFAULT_METHOD, "--method", "-m",
                                  help="How activation ranges are chosen: auto (mse, or minmax where it quantizes "
                                       "the logits clearly better on the last fifth of the calibration samples), "
                                       "minmax (full observed range), ema "
                                       "(moving-average min/max), percentile (clip at --percentile), kl "
                                       "(entropy calibration), mse (clip to minimise quantization error)."),
    percentile: float = typer.Option(99.99, "--percentile", min=50.0, max=100.0,
                                     help="Percentile of |x| kept by --method percentile."),
    io: IoType = typer.Option(IoType.int8, "--io",
                              help="Type of the model's inputs and outputs: int8, uint8, or float (adds "
                                   "QUANTIZE/DEQUANTIZE at the edges)."),
    preprocess: Optional[str] = typer.Option(
        None, "--preprocess", "-p",
        help="How images become inputs, e.g. 'size=96x96,scale=1/255,mean=0.5,std=0.5,order=rgb,resize=crop' "
             "(keys: size HxW, scale, mean, std (per channel a:b:c), order rgb|bgr, resize stretch|crop|pad, "
             "layout nhwc|nchw). Default: the model's input size, scale=1/255."),
    report: Optional[Path] = typer.Option(None, "--report",
                                          help="Also write the fidelity report (per-layer SQNR, output SQNR, "
                                               "top-1 agreement; with low-bit options also weight bytes, "
                                               "precisions, arena): .html is a self-contained page with a "
                                               "chart, any other name JSON."),
    weight_clip: bool = typer.Option(False, "--weight-clip",
                                     help="Clip each weight channel to the range that minimises its "
                                          "quantization error (MSE) instead of using max |w|."),
    weights: str = typer.Option("int8", "--weights", help="Weight type of CONV/DEPTHWISE/FC: int8 or int4 "
                                "(packed INT4 per channel in [-7, 7])."),
    activations: str = typer.Option("int8", "--activations", help="Activation type: int8, or int16 (16x8: int16 "
                                    "symmetric activations, int8 weights, int64 bias; --io int8 then means int16)."),
    dynamic: bool = typer.Option(False, "--dynamic", help="Dynamic range (hybrid): int8 per-channel weights, float "
                                 "activations; --calib only measures fidelity."),
    recover: Optional[str] = typer.Option(None, "--recover", help="Accuracy recovery passes, comma separated: "
                                          "cle (cross-layer equalization of depthwise-separable pairs), bias "
                                          "(bias correction), adaround (INT4 rounding and scales), tune "
                                          "(whole-network learned rounding and biases; needs PyTorch: "
                                          "pip install 'edgeq[qat]')."),
    mixed: bool = typer.Option(False, "--mixed", help="Per-layer precision (int4/int8/int16/float) chosen by "
                               "sensitivity to meet --budget and/or --target-sqnr."),
    budget: Optional[str] = typer.Option(None, "--budget", help="With --mixed: flash=64KB,ram=32KB (KB = 1024 B)."),
    target_sqnr: Optional[float] = typer.Option(None, "--target-sqnr", help="With --mixed: output SQNR (dB) to "
                                                "keep while shrinking, or to reach within the budget."),
):
    from .converter import convert_file
    from .quantize import lowbit_cli

    output = output or _default_output(src)
    _check_writable(output)
    if report is not None:
        _check_writable(report)
    if lowbit_cli.wanted(weights, activations, dynamic, recover, mixed, budget, target_sqnr, report):
        existed = output.exists()
        try:
            lowbit_cli.run(src, output, calib=calib, method=method.value, io=io.value, preprocess=preprocess,
                           weight_clip=weight_clip, report=report, weights=weights, activations=activations,
                           dynamic=dynamic, recover=recover, mixed=mixed, budget=budget, target_sqnr=target_sqnr,
                           console=_out(), progress=sys.stdout.isatty())
        except BaseException:
            if not existed:
                output.unlink(missing_ok=True)
            raise
        return
    if calib is None:
        raise EdgeqError("--calib is required (only --dynamic converts without calibration data)")
    existed = output.exists()
    try:
        result = convert_file(src, output, calib=calib, method=method.value, percentile=percentile, io=io.value,
                              preprocess=preprocess, weight_clip="mse" if weight_clip else "minmax",
                              report=report, progress=sys.stdout.isatty())
    except BaseException:
        if not existed:  # the model may be written before the report fails: leave nothing behind
            output.unlink(missing_ok=True)
        raise
    print_summary(result, _out())


def _check_writable(path: Path) -> None:
    """Fail before the (slow) conversion when an output cannot be created."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise IsADirectoryError(21, "is a directory, not a file", str(path))
    if not parent.is_dir():
        raise FileNotFoundError(2, "folder does not exist" if not parent.exists() else "not a folder", str(parent))
    if not os.access(parent, os.W_OK):
        raise PermissionError(13, "folder is not writable", str(parent))


def _kb(n: int) -> str:
    return f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n} B"


def print_summary(result, console: Console) -> None:
    """The conversion summary: layout note, sizes, per-layer SQNR table, output SQNR and top-1 agreement."""
    from .quantize.report import render

    ratio = result.float_bytes / result.int8_bytes if result.int8_bytes else float("nan")
    console.print(f"[bold]{result.src}[/] -> [bold]{result.dst}[/]  ({result.method}, io {result.io}, "
                  f"{result.seconds:.1f} s)")
    console.print(f"size: {_kb(result.float_bytes)} float -> {_kb(result.int8_bytes)} int8 ({ratio:.1f}x smaller)")
    layout = f"input layout: {result.input_layout}"
    if "NCHW" in result.input_layout:
        layout += " - the .tflite takes NHWC inputs: feed x.transpose(0, 2, 3, 1) of your NCHW data"
    console.print(layout)
    console.print(f"calibration: {result.calib_samples} samples; fidelity on {result.holdout_samples} held-out")
    for note in result.notes:
        console.print(f"note: {note}")
    if result.report is not None:
        render(result.report, console)


# ---------------------------------------------------------------------------------------------------------
# inspect
@app.command(
    help=(
        "Show a model's inputs and outputs, ops, tensors (shape, dtype, scale / zero point) and sizes.\n\n"
        "Works on .tflite (float or quantized) and .onnx files. --json prints the same description as JSON "
        "for scripts.\n\n"
        "Example:  edgeq inspect model_int8.tflite"
    ),
    no_args_is_help=True,
)
@guarded
def inspect(
    model: Path = typer.Argument(..., metavar="MODEL", help="A .tflite or .onnx file.", show_default=False),
    as_json: bool = typer.Option(False, "--json", help="Print the description as JSON."),
):
    from .model.inspect import describe, render
    from .converter import load_model

    desc = describe(load_model(model))
    if as_json:
        print(json.dumps(desc, indent=2, default=_json_default))
    else:
        render(desc, _out())


# ---------------------------------------------------------------------------------------------------------
# run
@app.command(
    help=(
        "Run a quantized .tflite on edgeq's C runtime (runtime_c, host build) and print or save its outputs.\n\n"
        "--input is a .npy (single-input models) or .npz (arrays by input name or in order) in the model's "
        "own layout (NHWC for images). An array of the input's shape runs once; a stack of samples "
        "[N, ...] runs once per sample. Float data given to a quantized input is quantized with the "
        "input's scale and zero point. Outputs are the model's own (e.g. int8); --output saves them "
        "(.npy for one output, .npz for several).\n\n"
        "--board NAME runs it on a board instead (see `edgeq boards`): an emulated board starts in the "
        "background; a real one is reached on --port (or EDGEQ_PORT). The model is uploaded only when the "
        "board's copy differs.\n\n"
        "Example:  edgeq run model_int8.tflite --input x.npy --output y.npy\n\n"
        "Example:  edgeq run model_int8.tflite --board qemu-an547 --input x.npy"
    ),
    no_args_is_help=True,
)
@guarded
def run(
    model: Path = typer.Argument(..., metavar="MODEL", help=MODEL_HELP, show_default=False),
    input: Path = typer.Option(..., "--input", "-i", help="Input data: .npy or .npz.", show_default=False),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Save the outputs: .npy or .npz."),
    board: Optional[str] = typer.Option(None, "--board", "-b", help="Run on this board instead of the host."),
    port: Optional[str] = typer.Option(None, "--port", "-p", help="The board's serial port: a path, a pyserial "
                                       "URL (socket://, rfc2217://) or 'auto' [default: EDGEQ_PORT]."),
):
    import numpy as np

    from .runtime import Interpreter

    if output is not None:
        _check_writable(output)
    it = Interpreter(model)
    xs = _run_inputs(input, it.inputs)
    n = xs[0].shape[0]
    where = "runtime_c"
    if board is not None:
        from .device import render
        from .device.api import run as run_on_board

        counts: list[int] = []
        with render.upload_progress(_out(), "uploading model", sys.stdout.isatty()) as progress:
            ys = run_on_board(model, board, [x.reshape((n, *t.shape)) for x, t in zip(xs, it.inputs)], port=port,
                              counts=counts, progress=progress)
        where = f"{board} ({counts[0]:,} per inference)" if len(set(counts)) == 1 else \
            f"{board} ({min(counts):,}..{max(counts):,} per inference)"
    else:
        runs = [it.run([x[k:k + 1].reshape(t.shape) for x, t in zip(xs, it.inputs)]) for k in range(n)]
        ys = [np.concatenate([r[j] for r in runs]) if n > 1 else runs[0][j] for j in range(len(it.outputs))]
    if output is not None:
        if output.suffix == ".npz":
            _save_atomic(output, lambda f: np.savez(f, **{t.name: y for t, y in zip(it.outputs, ys)}))
        elif len(ys) == 1:
            _save_atomic(output, lambda f: np.save(f, ys[0]))
        else:
            raise EdgeqError(f"{output}: the model has {len(ys)} outputs; save them to a .npz")
    console = _out()
    console.print(f"{model}: {n} run(s) on {where}" + ("" if board else f", arena {it.arena_bytes} bytes"))
    for t, y in zip(it.outputs, ys):
        console.print(f"output {t.name!r}: shape {list(y.shape)} {y.dtype}"
                      + (f" -> {output}" if output is not None else ""))
        if y.size <= 64:
            console.print(np.array2string(y, max_line_width=110))


# ---------------------------------------------------------------------------------------------------------
# compare
class Reference(str, Enum):
    ref = "ref"
    builtin = "builtin"
    xnnpack = "xnnpack"


@app.command(
    help=(
        "Check that runtime_c computes exactly what LiteRT's reference kernels compute for a quantized .tflite.\n\n"
        "Runs both on the same inputs (--inputs: a .npy, a .npz, or a folder of them or of images; otherwise "
        "--random N random samples) and reports, per output, how many samples are bit-exact and the largest "
        "difference. When they differ, it names the first op whose output differs. Exit code 0 when every "
        "output byte is equal, 1 when not. --reference builtin|xnnpack compares with LiteRT's optimized "
        "kernels instead.\n\n"
        "Example:  edgeq compare model_int8.tflite --random 100"
    ),
    no_args_is_help=True,
)
@guarded
def compare(
    model: Path = typer.Argument(..., metavar="MODEL", help=MODEL_HELP, show_default=False),
    inputs: Optional[Path] = typer.Option(None, "--inputs", "-i", help="Input samples: .npy, .npz or a folder."),
    random: int = typer.Option(10, "--random", "-n", min=1, help="Random samples when --inputs is not given."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random samples."),
    reference: Reference = typer.Option(Reference.ref, "--reference",
                                        help="LiteRT path to compare with: ref (BUILTIN_REF, the oracle), "
                                             "builtin (optimized kernels) or xnnpack."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
):
    from .compare import compare as run_compare, render

    r = run_compare(model, inputs=inputs, random=random, seed=seed, reference=reference.value)
    if as_json:
        print(json.dumps(r.to_dict(), indent=2, default=_json_default))
    else:
        render(r, _out())
    raise typer.Exit(0 if r.bit_exact else 1)


# ---------------------------------------------------------------------------------------------------------
# analyze
@app.command(
    help=(
        "Show what a quantized .tflite costs on runtime_c: exact arena bytes, weight bytes, and per op the output "
        "shape, MACs, scratch bytes and live memory.\n\n"
        "The arena is given for the reference kernels (what a microcontroller build reserves) and for this "
        "host's SIMD kernels, both measured by runtime_c itself, with the memory plan's peak beside the lower "
        "bound no plan can beat.\n\n"
        "--board NAME adds the exact arena on that board's 32-bit CPU (runtime_c built for it and run under QEMU "
        "before anything is flashed; the host's figures are an upper bound there) and whether it fits the RAM "
        "the board's runner firmware leaves.\n\n"
        "Example:  edgeq analyze model_int8.tflite --board qemu-an386"
    ),
    no_args_is_help=True,
)
@guarded
def analyze(
    model: Path = typer.Argument(..., metavar="MODEL", help=MODEL_HELP, show_default=False),
    as_json: bool = typer.Option(False, "--json", help="Print the analysis as JSON."),
    board: Optional[str] = typer.Option(None, "--board", "-b", help="Also the exact arena on this board (see "
                                        "`edgeq boards`)."),
):
    from .analyze import analyze as run_analyze, render

    a = run_analyze(model, board=board)
    if as_json:
        print(json.dumps(a.to_dict(), indent=2, default=_json_default))
    else:
        render(a, _out())


# ---------------------------------------------------------------------------------------------------------
# generate
@app.command(
    help=(
        "Write C sources that embed a quantized .tflite in firmware with runtime_c.\n\n"
        "OUT/<name>_model.c holds the model as a 16-byte-aligned const array; OUT/<name>_model.h declares it "
        "with <NAME>_ARENA_BYTES (the arena of the reference-kernel build: measured on this 64-bit host, an upper "
        "bound for a 32-bit MCU; exact for the board given with --board) and the inputs' and outputs' "
        "shapes, types, scales and zero points; OUT/<name>_init.c has a static arena and <name>_init(), which "
        "loads the model and prepares an interpreter. Compile them with runtime_c's sources.\n\n"
        "Example:  edgeq generate model_int8.tflite -o firmware/model --name kws"
    ),
    no_args_is_help=True,
)
@guarded
def generate(
    model: Path = typer.Argument(..., metavar="MODEL", help=MODEL_HELP, show_default=False),
    out: Path = typer.Option(..., "-o", "--output", help="Folder for the C files (created if missing).",
                             show_default=False),
    name: Optional[str] = typer.Option(None, "--name", help="C name prefix [default: the model file's stem]."),
    board: Optional[str] = typer.Option(None, "--board", "-b", help="Write the exact arena for this board "
                                        "(see `edgeq boards`)."),
):
    from .codegen import generate as run_generate
    from .introspect import RuntimeView

    if board is not None:
        from .device.probe import arena_on_board

        arena, where = arena_on_board(model, board), f"exact on {board}"
    else:
        arena, where = RuntimeView(model, "ref").arena_bytes, "reference kernels, 64-bit host: an upper bound on an MCU"
    paths = run_generate(model, out, name=name, board=board, arena_bytes=arena)
    console = _out()
    console.print(f"{model} -> {out}/ (arena {arena:,} bytes, {where})")
    for p in paths:
        console.print(f"  {p}  ({p.stat().st_size:,} bytes)")


# ---------------------------------------------------------------------------------------------------------
# boards: flash / profile / validate (run --board above); the functions live in edgeq.device.api
_PORT_HELP = ("The board's serial port: a path, a pyserial URL (socket://, rfc2217://) or 'auto' (by the "
              "board's USB id) [default: EDGEQ_PORT; emulated boards need none].")
boards_app = typer.Typer(help="List the boards edgeq knows; `edgeq boards stop NAME` stops an emulated one.",
                         no_args_is_help=False, invoke_without_command=True, rich_markup_mode=None)
app.add_typer(boards_app, name="boards")


@boards_app.callback(invoke_without_command=True)
@guarded
def boards(ctx: typer.Context):
    """Boards known (CPU, clock, flash/RAM, model slot, how firmware is flashed, emulated or not)."""
    if ctx.invoked_subcommand is not None:
        return
    from .device import qemu, render
    from .device.boards import list_boards

    bs = list_boards()
    running = {b.name: r for b in bs if b.emulated and (r := qemu.status(b.name)) is not None}
    render.boards_table(bs, running, _out())


@boards_app.command("stop", help="Stop an emulated board started in the background.", no_args_is_help=True)
@guarded
def boards_stop(name: str = typer.Argument(..., metavar="NAME", help="An emulated board, e.g. qemu-an386.")):
    from .device import qemu
    from .device.boards import get_board

    b = get_board(name)
    if not b.emulated:
        raise EdgeqError(f"{name} is a real board: nothing to stop")
    _out().print(f"{name}: stopped" if qemu.stop(name) else f"{name}: was not running")


@app.command(
    help=(
        "Put a quantized .tflite on a board: upload it over serial into the inactive model slot, check its CRC-32, "
        "commit, and check that it loads. Nothing is written when the board already has it.\n\n"
        "An emulated board (qemu-*) starts in the background and keeps running until `edgeq boards stop NAME`. "
        "--firmware first programs the runner firmware with the board's flasher (real boards).\n\n"
        "Example:  edgeq flash model_int8.tflite --board qemu-an386\n\n"
        "Example:  edgeq flash model_int8.tflite --board nucleo-h743zi --port auto --firmware"
    ),
    no_args_is_help=True,
)
@guarded
def flash(
    model: Path = typer.Argument(..., metavar="MODEL", help=MODEL_HELP, show_default=False),
    board: str = typer.Option(..., "--board", "-b", help="Board name (see `edgeq boards`).", show_default=False),
    port: Optional[str] = typer.Option(None, "--port", "-p", help=_PORT_HELP),
    firmware: bool = typer.Option(False, "--firmware", help="Also program the firmware image first."),
):
    from .device import render
    from .device.api import flash as flash_model

    console = _out()
    with render.upload_progress(console, f"writing {model.name}", sys.stdout.isatty()) as progress:
        r = flash_model(model, board, port=port, firmware=firmware, progress=progress)
    render.flash_result(r, console)


@app.command(
    help=(
        "Run a quantized .tflite once on a board and show what each op costs: cycles (real boards, DWT) or "
        "instructions (emulated boards, deterministic), share of the total, latency at the board's clock, "
        "output shape and MACs; then arena, stack and code bytes. --json prints the same for scripts.\n\n"
        "Example:  edgeq profile model_int8.tflite --board qemu-an386"
    ),
    no_args_is_help=True,
)
@guarded
def profile(
    model: Path = typer.Argument(..., metavar="MODEL", help=MODEL_HELP, show_default=False),
    board: str = typer.Option(..., "--board", "-b", help="Board name (see `edgeq boards`).", show_default=False),
    port: Optional[str] = typer.Option(None, "--port", "-p", help=_PORT_HELP),
    input: Optional[Path] = typer.Option(None, "--input", "-i", help="Input sample (.npy/.npz) [default: random]."),
    as_json: bool = typer.Option(False, "--json", help="Print the profile as JSON."),
):
    from .device import render
    from .device.api import profile as profile_model

    xs = None
    if input is not None:
        from .runtime import Interpreter

        it = Interpreter(model)
        xs = [x[:1].reshape(t.shape) for x, t in zip(_run_inputs(input, it.inputs), it.inputs)]
    with render.upload_progress(_out(), "uploading model", sys.stdout.isatty() and not as_json) as progress:
        p = profile_model(model, board, inputs=xs, port=port, progress=progress)
    if as_json:
        print(p.to_json())
    else:
        render.profile_table(p, _out())


@app.command(
    help=(
        "Check that a board computes exactly what the host runtime computes: runs the samples on both and "
        "compares every output byte. When they differ, names the first layer whose output differs (read "
        "back from the board). Exit code 0 when every sample is identical, 1 when not.\n\n"
        "--inputs: a .npy, a .npz, or a folder of them or of images; otherwise --random N samples.\n\n"
        "Example:  edgeq validate model_int8.tflite --board qemu-an386 --inputs samples/"
    ),
    no_args_is_help=True,
)
@guarded
def validate(
    model: Path = typer.Argument(..., metavar="MODEL", help=MODEL_HELP, show_default=False),
    board: str = typer.Option(..., "--board", "-b", help="Board name (see `edgeq boards`).", show_default=False),
    port: Optional[str] = typer.Option(None, "--port", "-p", help=_PORT_HELP),
    inputs: Optional[Path] = typer.Option(None, "--inputs", "-i", help="Input samples: .npy, .npz or a folder."),
    random: int = typer.Option(10, "--random", "-n", min=1, help="Random samples when --inputs is not given."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random samples."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
):
    from .device import render
    from .device.api import validate as validate_model

    with render.upload_progress(_out(), "uploading model", sys.stdout.isatty() and not as_json) as progress:
        r = validate_model(model, board, inputs=inputs, port=port, random=random, seed=seed, progress=progress)
    if as_json:
        print(json.dumps(r.to_dict(), indent=2, default=_json_default))
    else:
        render.validation(r, _out())
    raise typer.Exit(0 if r.ok else 1)


def _run_inputs(path: Path, inputs) -> list:
    """The --input arrays, one per model input, stacked on a leading sample axis, in the model's dtype."""
    import numpy as np

    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                arrays = [z[t.name] for t in inputs] if all(t.name in z.files for t in inputs) else \
                    [z[k] for k in z.files]
        else:
            arrays = [np.load(path, allow_pickle=False)]
    except ValueError as e:
        raise EdgeqError(f"{path}: not a numpy .npy/.npz file ({e})") from None
    if len(arrays) != len(inputs):
        raise EdgeqError(f"{path}: {len(arrays)} array(s) for a model with {len(inputs)} input(s)")
    out = []
    for a, t in zip(arrays, inputs):
        if tuple(a.shape) == tuple(t.shape):
            a = a[None]
        elif a.ndim != len(t.shape) or tuple(a.shape[1:]) != tuple(t.shape[1:]) or a.shape[0] == 0:
            raise EdgeqError(f"{path}: array of shape {list(a.shape)} does not fit input {t.name!r} of shape "
                             f"{list(t.shape)} (give [N, {', '.join(map(str, t.shape[1:]))}] for N samples)")
        if np.issubdtype(a.dtype, np.floating) and np.issubdtype(t.dtype, np.integer):
            info = np.iinfo(t.dtype)
            a = np.clip(np.round(a / t.scale) + t.zero_point, info.min, info.max)
        out.append(a.astype(t.dtype))
    if len({a.shape[0] for a in out}) > 1:
        raise EdgeqError(f"{path}: the inputs have different sample counts")
    return out


def _save_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _json_default(o):
    import numpy as np

    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    return str(o)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="edgeq")


if __name__ == "__main__":
    main()
