"""Graph IR, the .tflite reader/writer and the ONNX importer."""
from .ir import Graph, Op, QuantParams, Tensor

__all__ = ["Graph", "Op", "QuantParams", "Tensor"]
