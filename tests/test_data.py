"""Calibration data loading: images with preprocessing, .npy/.npz/.bin, Python samples, layout and errors."""
import numpy as np
import pytest
from PIL import Image

from edgeq.data import ImagePreprocess, load_calibration
from edgeq.errors import CalibrationError
from edgeq.model.ir import Graph, Tensor


def graph(*inputs, perm=None) -> Graph:
    """A graph with only inputs (all data.py looks at); perm marks them as imported from NCHW."""
    g = Graph("t")
    for name, shape in inputs:
        g.add_tensor(Tensor(name, shape))
        g.inputs.append(name)
        if perm:
            g.input_perm[name] = perm
    return g


NCHW_TO_NHWC = (0, 2, 3, 1)


def save_png(path, rgb: np.ndarray):
    Image.fromarray(rgb.astype(np.uint8)).save(path)


# --- preprocess spec ---------------------------------------------------------------------------------------
def test_parse_full_spec():
    p = ImagePreprocess.parse("size=96x64,scale=1/255,mean=0.5,std=0.25,order=BGR,resize=crop,layout=nchw")
    assert p.size == (96, 64)
    assert p.scale == pytest.approx(1 / 255)
    assert p.mean == (0.5,) and p.std == (0.25,)
    assert (p.order, p.resize, p.layout) == ("bgr", "crop", "nchw")


def test_parse_per_channel_and_defaults():
    p = ImagePreprocess.parse("mean=0.485:0.456:0.406, std=1/2:1/4:1/8")
    assert p.mean == (0.485, 0.456, 0.406)
    assert p.std == (0.5, 0.25, 0.125)
    assert p.size is None and p.resize == "stretch" and p.order == "rgb"
    assert ImagePreprocess.parse("size=32").size == (32, 32)


@pytest.mark.parametrize("spec", ["colour=rgb", "size=axb", "scale=1/0", "resize=squash", "order=rgba",
                                  "std=0", "novalue"])
def test_parse_rejects_bad_specs(spec):
    with pytest.raises(CalibrationError, match="preprocess"):
        ImagePreprocess.parse(spec)


# --- arrays --------------------------------------------------------------------------------------------------
def test_npy_in_source_layout_is_moved_to_graph_layout(tmp_path):
    g = graph(("image", (1, 8, 8, 3)), perm=NCHW_TO_NHWC)
    x = np.random.default_rng(0).random((5, 3, 8, 8), dtype=np.float32)
    np.save(tmp_path / "c.npy", x)
    (out,) = load_calibration(tmp_path / "c.npy", g)
    assert out.shape == (5, 8, 8, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out, x.transpose(0, 2, 3, 1))


def test_samples_that_carry_the_batch_axis_are_accepted():
    g = graph(("x", (1, 640)))
    x = np.arange(3 * 640, dtype=np.float64).reshape(3, 1, 640)
    (out,) = load_calibration(x, g)
    assert out.shape == (3, 640) and out.dtype == np.float32
    np.testing.assert_array_equal(out, x[:, 0])


def test_shape_mismatch_names_input_and_both_shapes(tmp_path):
    g = graph(("image", (1, 8, 8, 1)), perm=NCHW_TO_NHWC)
    np.save(tmp_path / "c.npy", np.zeros((4, 3, 8, 8), np.float32))
    with pytest.raises(CalibrationError) as e:
        load_calibration(tmp_path / "c.npy", g)
    msg = str(e.value)
    assert "'image'" in msg and "[4, 3, 8, 8]" in msg and "[1, 1, 8, 8]" in msg


@pytest.mark.parametrize("bad", [np.array([["a"] * 4] * 2), np.zeros((2, 4), np.complex64), np.ones((2, 4), bool)])
def test_dtype_mismatch(bad):
    with pytest.raises(CalibrationError, match="'x'"):
        load_calibration(bad, graph(("x", (1, 4))))


def test_nan_and_inf_are_rejected():
    x = np.zeros((2, 4), np.float32)
    x[1, 2] = np.inf
    with pytest.raises(CalibrationError, match="NaN or inf"):
        load_calibration(x, graph(("x", (1, 4))))


def test_npz_by_name_and_in_order(tmp_path):
    g = graph(("a", (1, 2)), ("b", (1, 3)))
    a, b = np.ones((4, 2), np.float32), np.full((4, 3), 2, np.float32)
    np.savez(tmp_path / "named.npz", b=b, a=a)
    out = load_calibration(tmp_path / "named.npz", g)
    np.testing.assert_array_equal(out[0], a)
    np.testing.assert_array_equal(out[1], b)
    np.savez(tmp_path / "ordered.npz", a, b)  # arr_0, arr_1
    out = load_calibration(tmp_path / "ordered.npz", g, limit=2)
    assert [o.shape for o in out] == [(2, 2), (2, 3)]


def test_npz_missing_input(tmp_path):
    np.savez(tmp_path / "c.npz", a=np.ones((4, 2)), c=np.ones((4, 3)), d=np.ones((4, 3)))
    with pytest.raises(CalibrationError, match="missing.*'b'"):
        load_calibration(tmp_path / "c.npz", graph(("a", (1, 2)), ("b", (1, 3))))


def test_npz_sample_counts_must_agree(tmp_path):
    np.savez(tmp_path / "c.npz", a=np.ones((4, 2)), b=np.ones((3, 3)))
    with pytest.raises(CalibrationError, match="sample counts"):
        load_calibration(tmp_path / "c.npz", graph(("a", (1, 2)), ("b", (1, 3))))


def test_raw_bin(tmp_path):
    x = np.random.default_rng(1).random((3, 10), dtype=np.float32)
    x.astype("<f4").tofile(tmp_path / "c.bin")
    (out,) = load_calibration(tmp_path / "c.bin", graph(("x", (1, 10))))
    np.testing.assert_array_equal(out, x)
    with pytest.raises(CalibrationError, match="whole number of samples"):
        load_calibration(tmp_path / "c.bin", graph(("x", (1, 7))))


def test_iterable_of_samples_single_and_multi_input():
    g = graph(("x", (1, 4)))
    (out,) = load_calibration((np.full(4, i, np.float32) for i in range(6)), g, limit=5)
    assert out.shape == (5, 4)
    np.testing.assert_array_equal(out[:, 0], np.arange(5))

    g2 = graph(("a", (1, 2)), ("b", (1, 3)), perm=None)
    samples = [{"a": np.ones((1, 2)), "b": np.zeros(3)}, (np.ones(2), np.zeros((1, 3)))]
    a, b = load_calibration(samples, g2)
    assert a.shape == (2, 2) and b.shape == (2, 3)


def test_iterable_sample_errors():
    g = graph(("a", (1, 2)), ("b", (1, 3)))
    with pytest.raises(CalibrationError, match="empty"):
        load_calibration([], g)
    with pytest.raises(CalibrationError, match="sample 0 has no array for input 'b'"):
        load_calibration([{"a": np.ones(2)}], g)
    with pytest.raises(CalibrationError, match=r"sample 1: shape \[4\].*'b'"):
        load_calibration([(np.ones(2), np.ones(3)), (np.ones(2), np.ones(4))], g)


def test_missing_and_unknown_sources(tmp_path):
    g = graph(("x", (1, 4)))
    with pytest.raises(CalibrationError, match="does not exist"):
        load_calibration(tmp_path / "nope.npy", g)
    (tmp_path / "c.txt").write_text("1 2 3 4")
    with pytest.raises(CalibrationError, match="unknown calibration file type"):
        load_calibration(tmp_path / "c.txt", g)
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    with pytest.raises(CalibrationError, match="cannot read calibration file"):
        load_calibration(tmp_path / "bad.npy", g)


# --- images --------------------------------------------------------------------------------------------------
def test_empty_dir_and_dir_without_images(tmp_path):
    g = graph(("image", (1, 4, 4, 3)))
    with pytest.raises(CalibrationError, match="is empty"):
        load_calibration(tmp_path, g)
    (tmp_path / "notes.txt").write_text("no pictures here")
    with pytest.raises(CalibrationError, match="no images"):
        load_calibration(tmp_path, g)


def test_image_normalisation_order_and_default_size(tmp_path):
    rgb = np.zeros((6, 5, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 255, 51, 0
    save_png(tmp_path / "a.png", rgb)
    g = graph(("image", (1, 6, 5, 3)))
    (out,) = load_calibration(tmp_path, g, "scale=1/255,mean=0.5,std=0.5")
    assert out.shape == (1, 6, 5, 3)
    np.testing.assert_allclose(out[0, 0, 0], [1.0, -0.6, -1.0], atol=1e-6)
    (bgr,) = load_calibration(tmp_path, g, ImagePreprocess(order="bgr", scale=1.0))
    np.testing.assert_allclose(bgr[0, 0, 0], [0, 51, 255])
    (per_ch,) = load_calibration(tmp_path, g, "scale=1,mean=255:51:0")
    assert np.all(per_ch == 0)


def test_images_fill_an_nchw_input_and_grayscale(tmp_path):
    save_png(tmp_path / "a.png", np.full((8, 8, 3), 200, np.uint8))
    (out,) = load_calibration(tmp_path, graph(("x", (1, 3, 4, 4))), "layout=nchw,scale=1")
    assert out.shape == (1, 3, 4, 4) and np.allclose(out, 200)
    (gray,) = load_calibration(tmp_path, graph(("x", (1, 4, 4, 1))), "scale=1")
    assert gray.shape == (1, 4, 4, 1) and np.allclose(gray, 200)


def test_resize_modes(tmp_path):
    # A 4x8 (h x w) image: left half white, right half black, with a red centre band of 4 columns.
    img = np.zeros((4, 8, 3), np.uint8)
    img[:, :4] = 255
    img[:, 2:6] = (255, 0, 0)
    save_png(tmp_path / "wide.png", img)
    g = graph(("image", (1, 4, 4, 3)))
    (crop,) = load_calibration(tmp_path, g, "scale=1,resize=crop")
    np.testing.assert_allclose(crop[0], np.broadcast_to([255, 0, 0], (4, 4, 3)))  # centre band only
    (pad,) = load_calibration(tmp_path, g, "scale=1,resize=pad")
    assert np.all(pad[0, 0] == 0) and np.all(pad[0, 3] == 0)  # top and bottom rows are padding
    assert pad[0, 1:3].max() == 255
    (stretch,) = load_calibration(tmp_path, g, "scale=1,resize=stretch")
    assert stretch.shape == (1, 4, 4, 3)
    assert np.all(stretch[0, :, :2, 0] == 255) and stretch[0, :, 3].max() < 128  # whole width kept, squeezed


def test_images_recursive_sorted_with_limit(tmp_path):
    (tmp_path / "b").mkdir()
    for i, p in enumerate([tmp_path / "b" / "2.bmp", tmp_path / "1.jpg", tmp_path / "b" / "1.png"]):
        Image.fromarray(np.full((3, 3, 3), 10 * (i + 1), np.uint8)).save(p)
    (out,) = load_calibration(tmp_path, graph(("x", (1, 3, 3, 3))), "scale=1", limit=2)
    assert out.shape == (2, 3, 3, 3)
    assert out[0].mean() == pytest.approx(20, abs=2)  # 1.jpg first (lossy), then b/1.png
    assert out[1].mean() == 30


def test_corrupt_image_and_non_image_input(tmp_path):
    (tmp_path / "x.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(CalibrationError, match="cannot read image .*x.png"):
        load_calibration(tmp_path, graph(("x", (1, 3, 3, 3))))
    with pytest.raises(CalibrationError, match="not an image input"):
        load_calibration(tmp_path, graph(("x", (1, 640))))
