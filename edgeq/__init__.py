"""edgeq: quantize float neural networks to full-integer TFLite and run them on microcontrollers.

    import edgeq
    int8_bytes = edgeq.convert("model.onnx", calib="calib.npz", method="mse")
    result = edgeq.convert_file("model.tflite", "model_int8.tflite", calib="images/")
    y, = edgeq.Interpreter("model_int8.tflite").run(x)   # edgeq's C runtime on the host

The public names load their modules on first use, so ``import edgeq`` stays fast.
"""
import importlib

__version__ = "0.1.0"

# public name -> (module, attribute)
_LAZY = {
    "convert": ("edgeq.converter", "convert"),
    "convert_file": ("edgeq.converter", "convert_file"),
    "load_calibration": ("edgeq.data", "load_calibration"),
    "ImagePreprocess": ("edgeq.data", "ImagePreprocess"),
    "Interpreter": ("edgeq.runtime", "Interpreter"),
}

__all__ = ["__version__", *_LAZY]


def _lazy(name: str):
    module, attr = _LAZY[name]
    return getattr(importlib.import_module(module), attr)


def __getattr__(name: str):
    if name in _LAZY:
        return _lazy(name)
    raise AttributeError(f"module 'edgeq' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))

