"""Data loaders: the IDX reader on small files written here, the real Fashion-MNIST when present."""
import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from cnnbook import data as D


def _write_idx(path: Path, arr: np.ndarray, compress: bool, code: int = 0x08, magic=None):
    header = magic if magic is not None else struct.pack(">BBBB", 0, 0, code, arr.ndim)
    raw = header + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.astype(">u1").tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        raw = gzip.compress(raw)
    path.write_bytes(raw)
    return path


def _tiny_set(root: Path, split="train", n=5, compress=True, n_labels=None, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n_labels if n_labels is not None else n, dtype=np.uint8)
    img_name, lbl_name = D._FILES[split]
    _write_idx(root / img_name, images, compress)
    _write_idx(root / lbl_name, labels, compress)
    return images, labels


@pytest.fixture(autouse=True)
def _fresh_cache():
    D._load_idx_pair.cache_clear()
    yield
    D._load_idx_pair.cache_clear()


@pytest.mark.parametrize("compress", [True, False], ids=["gzip", "plain"])
def test_loader_reads_tiny_idx(tmp_path, compress):
    images, labels = _tiny_set(tmp_path, "test", n=7, compress=compress)
    x, y = D.load_mnist("test", root=tmp_path, checksum=False)
    assert x.shape == (7, 1, 28, 28) and x.dtype == np.float32
    assert y.shape == (7,) and y.dtype == np.int64
    np.testing.assert_array_equal(x[:, 0], images.astype(np.float32) / 255)
    np.testing.assert_array_equal(y, labels)
    assert 0 <= x.min() and x.max() <= 1


def test_returned_arrays_cannot_corrupt_cache(tmp_path):
    _tiny_set(tmp_path)
    x, y = D.load_fashion_mnist("train", root=tmp_path, checksum=False)
    with pytest.raises(ValueError):
        x[0, 0, 0, 0] = 5.0
    with pytest.raises(ValueError):
        y[0] = 3
    x2 = x.copy()
    x2[:] = 0
    np.testing.assert_array_equal(D.load_fashion_mnist("train", root=tmp_path, checksum=False)[0], x)
    assert x.max() > 0


def test_checksum_mismatch_is_reported(tmp_path):
    _tiny_set(tmp_path)
    with pytest.raises(ValueError) as e:
        D.load_mnist("train", root=tmp_path)
    msg = str(e.value)
    assert "checksum mismatch" in msg and "train-images-idx3-ubyte.gz" in msg
    assert "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609" in msg


def test_truncated_image_file(tmp_path):
    _tiny_set(tmp_path, n=3, compress=False)
    p = tmp_path / "train-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:1000])
    with pytest.raises(ValueError) as e:
        D.load_mnist("train", root=tmp_path, checksum=False)
    msg = str(e.value)
    assert "truncated" in msg and "expected 2368 bytes" in msg and "3 images of 28x28" in msg
    assert "found 1000" in msg and str(p) in msg


def test_truncated_gzip(tmp_path):
    _tiny_set(tmp_path, n=3)
    p = tmp_path / "train-labels-idx1-ubyte.gz"
    p.write_bytes(p.read_bytes()[:-10])
    with pytest.raises(ValueError, match="corrupt or truncated gzip"):
        D.load_mnist("train", root=tmp_path, checksum=False)


def test_bad_magic(tmp_path):
    _tiny_set(tmp_path, n=2)
    _write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8), True,
               magic=b"\x1f\x00\x08\x03")
    with pytest.raises(ValueError) as e:
        D.load_mnist("train", root=tmp_path, checksum=False)
    assert "not an IDX file" in str(e.value) and "0x1f000803" in str(e.value)


def test_wrong_dtype_code_or_dims(tmp_path):
    _tiny_set(tmp_path, n=2)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros((2, 3), np.uint8), True)
    with pytest.raises(ValueError, match=r"uint8 labels \(N,\).*\(2, 3\)"):
        D.load_mnist("train", root=tmp_path, checksum=False)


def test_label_image_count_mismatch(tmp_path):
    _tiny_set(tmp_path, n=4, n_labels=3)
    with pytest.raises(ValueError) as e:
        D.load_mnist("train", root=tmp_path, checksum=False)
    assert "4 images" in str(e.value) and "3 labels" in str(e.value)


def test_read_idx_other_dtypes(tmp_path):
    arr = np.arange(6, dtype=">i4").reshape(2, 3)
    p = tmp_path / "ints.idx"
    p.write_bytes(struct.pack(">BBBB", 0, 0, 0x0C, 2) + struct.pack(">2I", 2, 3) + arr.tobytes())
    out = D.read_idx(p)
    np.testing.assert_array_equal(out, [[0, 1, 2], [3, 4, 5]])
    assert out.dtype == np.int32 and out.dtype.isnative


def test_missing_files_error_says_how_to_get_them(tmp_path, monkeypatch):
    import urllib.request

    def offline(*a, **k):
        raise OSError("network is unreachable")
    monkeypatch.setenv("CNNBOOK_DATA", str(tmp_path))
    monkeypatch.setitem(D._SYSTEM_DIRS, "fashion-mnist", tmp_path / "nowhere")
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(FileNotFoundError) as e:
        D.load_fashion_mnist("test")
    msg = str(e.value)
    assert "apt-get install dataset-fashion-mnist" in msg and "network is unreachable" in msg


def test_bad_split():
    with pytest.raises(ValueError, match="load_mnist: split must be 'train' or 'test', got split='val'"):
        D.load_mnist("val")


@pytest.mark.skipif(not (D._SYSTEM_DIRS["fashion-mnist"] / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_test_split():
    x, y = D.load_fashion_mnist("test")
    assert x.shape == (10000, 1, 28, 28) and x.dtype == np.float32
    assert y.shape == (10000,) and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_array_equal(np.bincount(y, minlength=10), [1000] * 10)
    assert len(D.FASHION_MNIST_CLASSES) == 10 and D.FASHION_MNIST_CLASSES[9] == "Ankle boot"


def test_load_digits():
    x, y = D.load_digits()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    from sklearn.datasets import load_digits
    np.testing.assert_array_equal(x[:, 0] * 16, load_digits().images)
    assert not x.flags.writeable


@pytest.mark.parametrize("name", D.SAMPLE_IMAGES)
def test_sample_images_load_offline(name):
    img = D.sample_image(name)
    raw = D.sample_image(name, raw=True)
    assert img.dtype == np.float64 and raw.dtype == np.uint8
    assert img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)
    assert 0 <= img.min() and img.max() <= 1
    np.testing.assert_array_equal(img, raw / 255)
    gray = D.sample_image(name, as_gray=True)
    assert gray.shape == img.shape[:2]


def test_sample_image_copy_and_unknown_name():
    a = D.sample_image("camera", raw=True)
    a[:] = 0
    assert D.sample_image("camera", raw=True).max() > 0
    with pytest.raises(ValueError) as e:
        D.sample_image("lena")
    assert "'lena'" in str(e.value) and "camera" in str(e.value) and "astronaut" in str(e.value)
