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


# ---- train_val_split ---------------------------------------------------------------------------
def _toy(n=1000, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n).astype(np.int64)
    x = np.arange(n, dtype=np.float32)[:, None, None, None] * np.ones((1, 1, 2, 2), np.float32)
    return x, y


def test_train_val_split_partition_stratified_deterministic():
    x, y = _toy()
    (xt, yt), (xv, yv) = D.train_val_split(x, y, 0.2, seed=3)
    assert len(yv) == 200 and len(yt) == 800
    ids_t, ids_v = xt[:, 0, 0, 0].astype(int), xv[:, 0, 0, 0].astype(int)
    assert sorted(np.concatenate([ids_t, ids_v]).tolist()) == list(range(1000))  # a partition
    assert np.array_equal(yt, y[ids_t]) and np.array_equal(yv, y[ids_v])          # pairs kept
    counts, vcounts = np.bincount(y, minlength=10), np.bincount(yv, minlength=10)
    assert np.all(np.abs(vcounts - 0.2 * counts) < 1)                             # stratified
    (xt2, _), (xv2, _) = D.train_val_split(x, y, 0.2, seed=3)
    assert np.array_equal(xv, xv2) and np.array_equal(xt, xt2)                    # deterministic
    (_, _), (xv3, _) = D.train_val_split(x, y, 0.2, seed=4)
    assert not np.array_equal(xv, xv3)                                            # seed matters


def test_train_val_split_count_and_inputs_untouched():
    x, y = _toy(n=103, classes=3)
    x0, y0 = x.copy(), y.copy()
    (xt, yt), (xv, yv) = D.train_val_split(x, y, 17)
    assert len(yv) == 17 and len(yt) == 86
    assert np.array_equal(x, x0) and np.array_equal(y, y0)
    xv[...] = -1                                                   # fresh arrays, not views
    assert np.array_equal(x, x0)


def test_train_val_split_real_fashion_mnist_balanced():
    try:
        x, y = D.load_fashion_mnist("train")
    except Exception as e:                                         # pragma: no cover
        pytest.skip(f"Fashion-MNIST not available: {e}")
    (xt, yt), (xv, yv) = D.train_val_split(x, y, 5000)
    assert len(yv) == 5000 and np.all(np.bincount(yv) == 500)    # 6000 per class -> 500 each


def test_train_val_split_errors():
    x, y = _toy(n=10)
    with pytest.raises(ValueError, match="train_val_split: a fractional val_size must lie in"):
        D.train_val_split(x, y, 1.5)
    with pytest.raises(ValueError, match="gives 10 validation examples out of N=10"):
        D.train_val_split(x, y, 10)
    with pytest.raises(TypeError, match="val_size must be a fraction or a count"):
        D.train_val_split(x, y, "10%")
    with pytest.raises(ValueError, match="x has 10 examples but y has 9 labels"):
        D.train_val_split(x, y[:9], 0.2)
    with pytest.raises(TypeError, match=r"integer class labels, got dtype float64; .*y.astype\(np.int64\)"):
        D.train_val_split(x, y.astype(float), 0.2)
    with pytest.raises(TypeError, match=r"got dtype <U1; .*np.unique\(y, return_inverse=True\)"):
        D.train_val_split(x, np.array(list("abababcbcb")), 0.2)
    with pytest.raises(ValueError, match="y must be a 1-D array"):
        D.train_val_split(x, y[:, None], 0.2)


def test_train_val_split_refuses_a_class_of_one_as_scikit_learn_does():
    """scikit-learn's stratified split raises for a class with a single member; ours did put
    the whole class into the validation set."""
    x = np.arange(11.0)
    y = np.array([0] * 5 + [1] * 5 + [2])
    with pytest.raises(ValueError, match=r"train_val_split: the least populated class has only 1 "
                                         r"example \(1 such class\(es\), e.g. label 2\)"):
        D.train_val_split(x, y, 0.5)
    sklearn = pytest.importorskip("sklearn.model_selection")
    with pytest.raises(ValueError, match="least populated class"):
        sklearn.train_test_split(x, y, test_size=0.5, stratify=y, random_state=0)


def test_train_val_split_needs_one_per_class_on_each_side_and_never_takes_a_whole_class():
    x, y = np.arange(12.0), np.repeat([0, 1, 2, 3], 3)
    with pytest.raises(ValueError, match="the validation part would hold 2 examples for 4 classes"):
        D.train_val_split(x, y, 2)
    with pytest.raises(ValueError, match="the training part would hold 3 examples for 4 classes"):
        D.train_val_split(x, y, 9)
    x, y = np.arange(16.0), np.array([0] * 2 + [1] * 2 + [2] * 12)
    (_, yt), (_, yv) = D.train_val_split(x, y, 0.75)              # shares 1.5, 1.5, 9
    assert len(yv) == 12 and set(yt.tolist()) == {0, 1, 2}        # every class kept in training
    assert np.bincount(yv).tolist() == [1, 1, 10]


# ---- augmentation ------------------------------------------------------------------------------
def _batch(n=6, c=2, h=5, w=7):
    return np.random.default_rng(0).random((n, c, h, w)).astype(np.float32)


def test_random_crop_windows_are_shifted_copies():
    x = _batch()
    x0 = x.copy()
    out = D.RandomCrop(5, padding=2, rng=1)(x)       # a 5x5 window of the 9x11 padded image
    assert out.shape == (6, 2, 5, 5) and np.array_equal(x, x0)
    xp = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    for i in range(6):                               # each crop is some window, all channels alike
        hits = [(a, b) for a in range(5) for b in range(7)
                if np.array_equal(out[i], xp[i, :, a:a + 5, b:b + 5])]
        assert hits


def test_random_translate_keeps_size_and_content():
    x = _batch(n=200, c=1, h=6, w=6)
    t = D.RandomTranslate(max_shift=1, rng=0)
    out = t(x)
    assert out.shape == x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    shifts = set()
    for i in range(200):
        for a in range(3):
            for b in range(3):
                if np.array_equal(out[i], xp[i, :, a:a + 6, b:b + 6]):
                    shifts.add((a - 1, b - 1))
    assert shifts == {(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)}  # all nine, no more
    assert np.array_equal(D.RandomTranslate(0)(x), x)


def test_flip_probability_and_seed():
    x = _batch(n=2000, c=1, h=3, w=4)
    out = D.RandomHorizontalFlip(p=0.5, rng=5)(x)
    flipped = np.all(out == x[:, :, :, ::-1], axis=(1, 2, 3))
    kept = np.all(out == x, axis=(1, 2, 3))
    assert np.all(flipped | kept) and 900 < flipped.sum() < 1100
    again = D.RandomHorizontalFlip(p=0.5, rng=5)(x)
    assert np.array_equal(out, again)                          # same seed, same flips
    f = D.RandomHorizontalFlip(rng=5)
    assert not np.array_equal(f(x), f(x))                      # the generator moves on
    assert np.array_equal(D.RandomHorizontalFlip(p=1.0)(x), x[:, :, :, ::-1])


def test_compose_and_readonly_input():
    x, _ = _toy(n=8)
    x = x.copy()
    x.flags.writeable = False
    aug = D.Compose(D.RandomTranslate(1, rng=0), D.RandomHorizontalFlip(rng=0))
    out = aug(x)
    assert out.shape == x.shape and out.flags.writeable
    manual = D.RandomHorizontalFlip(rng=0)(D.RandomTranslate(1, rng=0)(x))
    assert np.array_equal(out, manual)
    assert "RandomTranslate(max_shift=1)" in repr(aug)


def test_augmentation_errors():
    with pytest.raises(ValueError, match="RandomCrop: size must be"):
        D.RandomCrop(0)
    with pytest.raises(ValueError, match="RandomCrop: padding=-1 must be at least 0; use e.g. padding=2"):
        D.RandomCrop(28, padding=-1)
    with pytest.raises(TypeError, match="RandomCrop: padding must be an integer, got padding=1.5"):
        D.RandomCrop(28, padding=1.5)
    with pytest.raises(TypeError, match="RandomCrop: size must be an int or a pair of ints"):
        D.RandomCrop("28")
    with pytest.raises(TypeError, match="RandomHorizontalFlip: p must be a real number"):
        D.RandomHorizontalFlip(p="0.5")
    assert D.RandomCrop(np.int64(4), padding=np.int64(1)).size == (4, 4)
    with pytest.raises(ValueError, match="larger than the padded image"):
        D.RandomCrop(10, padding=1)(_batch())
    with pytest.raises(ValueError, match="RandomHorizontalFlip: p is a probability"):
        D.RandomHorizontalFlip(p=2)
    with pytest.raises(ValueError, match="RandomTranslate: expected an NCHW batch.*x\\[None\\]"):
        D.RandomTranslate(1)(np.zeros((5, 5)))
    with pytest.raises(TypeError, match="Compose: transform 1 is a int"):
        D.Compose(D.RandomTranslate(1), 3)
    with pytest.raises(TypeError, match="rng must be"):
        D.RandomTranslate(1, rng="a")
