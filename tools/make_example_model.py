#!/usr/bin/env python3
"""Regenerate the bundled example model: a small CNN trained on scikit-learn's digits.

Writes edgeq/examples/digits_cnn.onnx (torch.onnx.export, opset 13, NCHW input [1, 1, 8, 8]) and
edgeq/examples/digits_cnn.tflite (float, NHWC input [1, 8, 8, 1], made from the ONNX file by edgeq's own
importer and writer). For maintainers only: needs PyTorch (`pip install torch==2.13.0`, the `qat` extra).

The network covers the op patterns a converter must handle: conv + batch norm + ReLU, a depthwise conv,
a pointwise conv, max and average pooling, flatten, a fully connected layer (Gemm) and softmax.
Training is seeded, on a fixed train/test split (tools/digits.py); the script prints the test accuracy of
the PyTorch model, of the ONNX file in onnxruntime and of the .tflite file in LiteRT.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from digits import digits_split  # noqa: E402

OUT = ROOT / "edgeq" / "examples"


def build_model():
    import torch.nn as nn

    class DigitsCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
            self.dw = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), nn.BatchNorm2d(8), nn.ReLU())
            self.pw = nn.Sequential(nn.Conv2d(8, 16, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
            self.maxpool = nn.MaxPool2d(2)  # 8x8 -> 4x4
            self.avgpool = nn.AvgPool2d(2)  # 4x4 -> 2x2
            self.fc = nn.Linear(16 * 2 * 2, 10)

        def forward(self, x):
            x = self.maxpool(self.pw(self.dw(self.conv(x))))
            x = self.avgpool(x).flatten(1)
            return self.fc(x).softmax(dim=1)

    return DigitsCNN()


def train(model, x, y, *, epochs: int, seed: int):
    import torch

    torch.manual_seed(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    nll = torch.nn.NLLLoss()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(xt))
        for i in range(0, len(xt), 64):
            idx = order[i:i + 64]
            opt.zero_grad()
            # The model ends in softmax (as deployed); train on its log.
            loss = nll(torch.log(model(xt[idx]) + 1e-9), yt[idx])
            loss.backward()
            opt.step()
        sched.step()
    model.eval()
    return model


def export_onnx(model, path: Path) -> None:
    import torch

    dummy = torch.zeros(1, 1, 8, 8)
    # The TorchScript exporter keeps the graph plain ONNX (opset 13) without needing onnxscript; keep
    # BatchNormalization nodes in the file so the importer's folding is exercised.
    torch.onnx.export(model, (dummy,), str(path), input_names=["image"], output_names=["probs"],
                      opset_version=13, dynamo=False, do_constant_folding=True,
                      training=torch.onnx.TrainingMode.PRESERVE)


def export_tflite(onnx_path: Path, path: Path) -> None:
    from edgeq.model.onnx_import import import_onnx
    from edgeq.model.tflite_io import save_tflite

    save_tflite(import_onnx(str(onnx_path)), str(path))


def accuracy_onnx(path: Path, x: np.ndarray, y: np.ndarray) -> float:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    pred = [int(np.argmax(sess.run(None, {"image": xi[None]})[0])) for xi in x]
    return float(np.mean(np.array(pred) == y))


def accuracy_tflite(path: Path, x: np.ndarray, y: np.ndarray) -> float:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    pred = []
    for xi in x.transpose(0, 2, 3, 1):  # the .tflite takes NHWC
        it.set_tensor(i, xi[None])
        it.invoke()
        pred.append(int(np.argmax(it.get_tensor(o))))
    return float(np.mean(np.array(pred) == y))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=OUT, help="output folder (default: edgeq/examples)")
    ap.add_argument("--skip-tflite", action="store_true", help="write only the .onnx file")
    args = ap.parse_args()

    import torch

    x_tr, y_tr, x_te, y_te = digits_split()
    torch.manual_seed(args.seed)
    model = train(build_model(), x_tr, y_tr, epochs=args.epochs, seed=args.seed)
    with torch.no_grad():
        acc = float((model(torch.from_numpy(x_te)).argmax(1).numpy() == y_te).mean())
    print(f"PyTorch test accuracy: {acc:.4f} ({len(y_te)} test images)")

    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path, tfl_path = args.out / "digits_cnn.onnx", args.out / "digits_cnn.tflite"
    export_onnx(model, onnx_path)
    print(f"wrote {onnx_path} ({onnx_path.stat().st_size} bytes); onnxruntime accuracy "
          f"{accuracy_onnx(onnx_path, x_te, y_te):.4f}")
    if not args.skip_tflite:
        export_tflite(onnx_path, tfl_path)
        print(f"wrote {tfl_path} ({tfl_path.stat().st_size} bytes); LiteRT accuracy "
              f"{accuracy_tflite(tfl_path, x_te, y_te):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
