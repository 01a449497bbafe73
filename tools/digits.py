"""The scikit-learn digits dataset (1797 real 8x8 grayscale scans, bundled with scikit-learn), split once.

Shared by tools/make_example_model.py (training) and tools/demo.py (calibration and evaluation), so both
see the same train/test split. Images are NCHW float32 in [0, 1] (the example model's ONNX layout).
"""
import numpy as np

SEED = 0
TEST_FRACTION = 0.2


def digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test); x as float32 [N, 1, 8, 8] scaled from 0..16 to [0, 1]."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = d.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=TEST_FRACTION, random_state=SEED, stratify=y)
    return x_tr, y_tr, x_te, y_te
