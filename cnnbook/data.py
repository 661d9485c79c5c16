"""The book's data: Fashion-MNIST, MNIST, scikit-learn's digits and scikit-image's sample photos.

Image sets come back as ``(x, y)``: ``x`` float32 in ``[0, 1]`` shaped ``(N, 1, H, W)`` (NCHW,
ready for ``conv2d``), ``y`` int64 class indices ``(N,)``. Loaded arrays are cached in memory and
handed out read-only, so no caller can corrupt the cache (use ``x.copy()`` for a writable array).

Fashion-MNIST and MNIST are read from IDX files by a small NumPy reader (gzip or plain; magic
number, dimensions and dtype code checked; no pickle). The files are looked for, in order, in

1. ``$CNNBOOK_DATA/<name>/`` if that variable is set, else the repository's ``data/<name>/``;
2. Debian's ``/usr/share/datasets/fashion-mnist/`` or ``/usr/share/datasets/mnist/``
   (``apt-get install dataset-fashion-mnist``);
3. the official download site, fetched into the first directory — only when none of the files
   is found locally.

``train_val_split`` carves a stratified, seeded validation set out of a training set (choose on
validation, report test once), and ``RandomCrop``, ``RandomTranslate``, ``RandomHorizontalFlip``
and ``Compose`` augment NCHW batches with their own seeded generators, never modifying their input.

``load_image_folder`` reads your own images: one folder per class, as torchvision's
``ImageFolder`` expects, resized to one size and stacked into the same NCHW float32 layout.

Every file is checked against a table of known checksums: SHA-256 for Debian's Fashion-MNIST
archives and their decompressed contents and for the official MNIST archives; the official
Fashion-MNIST archives are published with MD5 sums only, so those are checked by MD5. A file
with no known checksum (e.g. an uncompressed MNIST file) is checked for structure only.

References:
- Y. LeCun, C. Cortes and C. Burges, "The MNIST database of handwritten digits" (the IDX format).
- H. Xiao, K. Rasul and R. Vollgraf, "Fashion-MNIST: a Novel Image Dataset for Benchmarking
  Machine Learning Algorithms", arXiv:1708.07747, 2017.
- scikit-learn: ``sklearn.datasets.load_digits`` (UCI optical recognition of handwritten digits).
- scikit-image: ``skimage.data`` (the bundled sample images).
- torchvision ``datasets.ImageFolder`` (the folder layout, the sorted class names and the list
  of image extensions) and ``transforms.Resize`` (bilinear with antialiasing).
- scikit-learn ``train_test_split(..., stratify=y)`` (the stratified split); torchvision
  ``transforms.RandomCrop(size, padding)``, ``RandomHorizontalFlip(p)``, ``Compose`` (the names
  and meanings of the augmentation callables, here for NCHW NumPy batches).
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import os
from pathlib import Path

import numpy as np
from ._checks import check_int, check_real, make_rng

__all__ = [
    "load_fashion_mnist", "load_mnist", "load_digits", "sample_image", "read_idx",
    "FASHION_MNIST_CLASSES", "SAMPLE_IMAGES", "train_val_split",
    "Compose", "RandomCrop", "RandomHorizontalFlip", "RandomTranslate",
    "load_image_folder", "IMG_EXTENSIONS",
]

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")

_REPO_DATA = Path(__file__).resolve().parent.parent / "data"
_SYSTEM_DIRS = {"fashion-mnist": Path("/usr/share/datasets/fashion-mnist"),
                "mnist": Path("/usr/share/datasets/mnist")}
_URLS = {"fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
         "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/"}
_INSTALL_HINT = {"fashion-mnist": "apt-get install dataset-fashion-mnist",
                 "mnist": "download the four MNIST .gz files from https://yann.lecun.com/exdb/mnist/"}
_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}

# Known checksums: {(dataset, file name): {"sha256": {...}, "md5": {...}}}
_CHECKSUMS = {
    # Debian's dataset-fashion-mnist archives (recompressed, so they differ from the official ones)
    ("fashion-mnist", "t10k-images-idx3-ubyte.gz"): {
        "sha256": {"cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa"},
        "md5": {"bef4ecab320f06d8554ea6380940ec79"}},          # the official archive
    ("fashion-mnist", "t10k-labels-idx1-ubyte.gz"): {
        "sha256": {"8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05"},
        "md5": {"bb300cfdad3c16e7a12a480ee83cd310"}},
    ("fashion-mnist", "train-images-idx3-ubyte.gz"): {
        "sha256": {"b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7"},
        "md5": {"8d4fb7e6c68d591d4c3dfef9ec88bf0d"}},
    ("fashion-mnist", "train-labels-idx1-ubyte.gz"): {
        "sha256": {"0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056"},
        "md5": {"25c81989df183df01b3e8a0aad5dffbe"}},
    # the decompressed Fashion-MNIST IDX files
    ("fashion-mnist", "t10k-images-idx3-ubyte"): {
        "sha256": {"5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"}},
    ("fashion-mnist", "t10k-labels-idx1-ubyte"): {
        "sha256": {"0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"}},
    ("fashion-mnist", "train-images-idx3-ubyte"): {
        "sha256": {"c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"}},
    ("fashion-mnist", "train-labels-idx1-ubyte"): {
        "sha256": {"bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"}},
    # the official MNIST archives
    ("mnist", "train-images-idx3-ubyte.gz"): {
        "sha256": {"440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"}},
    ("mnist", "train-labels-idx1-ubyte.gz"): {
        "sha256": {"3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"}},
    ("mnist", "t10k-images-idx3-ubyte.gz"): {
        "sha256": {"8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"}},
    ("mnist", "t10k-labels-idx1-ubyte.gz"): {
        "sha256": {"f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"}},
}

# IDX type codes (third byte of the magic number) and their big-endian NumPy dtypes
_IDX_DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


# ---------------------------------------------------------------------------------------------
# IDX reading and checksums

def _read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":                                  # gzip magic
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise ValueError(f"read_idx: {path} is a corrupt or truncated gzip file ({e}); delete "
                             f"it and fetch it again.") from None
    return raw


def read_idx(path) -> np.ndarray:
    """Read one IDX file (plain or gzip-compressed) into a NumPy array in native byte order.

    The header is 2 zero bytes, a type code (0x08 = unsigned byte, ...), the number of dimensions,
    then one big-endian int32 per dimension; the data follow in C order.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise ValueError(f"read_idx: {path} has {len(data)} bytes, too short for an IDX header "
                         f"(4 bytes of magic number expected).")
    if data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"read_idx: {path} is not an IDX file: magic number "
                         f"0x{data[:4].hex()} should be 0x0000TTDD with type code TT in "
                         f"{{08, 09, 0b, 0c, 0d, 0e}} and DD dimensions (0x00000803 for images, "
                         f"0x00000801 for labels).")
    dtype, ndim = _IDX_DTYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"read_idx: {path} is truncated: its header announces {ndim} dimensions "
                         f"({header} header bytes) but the file has {len(data)} bytes.")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    count = int(np.prod(dims)) if dims else 1
    expected = header + count * dtype.itemsize
    if len(data) != expected:
        what = (f"{dims[0]} images of {dims[1]}x{dims[2]}" if ndim == 3 else
                f"{dims[0]} labels" if ndim == 1 else f"shape {dims}")
        state = "truncated" if len(data) < expected else "too long"
        raise ValueError(f"read_idx: {path} is {state}: expected {expected} bytes "
                         f"({header}-byte header + {count * dtype.itemsize} bytes of data for "
                         f"{what}), found {len(data)}; delete it and fetch it again.")
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))                 # a writable native-order copy


def _verify(dataset: str, path: Path) -> None:
    known = _CHECKSUMS.get((dataset, path.name))
    if known is None:
        return                                                  # structure checks only
    raw = path.read_bytes()
    sha = hashlib.sha256(raw).hexdigest()
    if sha in known.get("sha256", ()):
        return
    if known.get("md5") and hashlib.md5(raw, usedforsecurity=False).hexdigest() in known["md5"]:
        return
    want = " or ".join(sorted(known["sha256"]))
    raise ValueError(f"{dataset}: checksum mismatch for {path}: SHA-256 {sha}, expected {want} "
                     f"(or the official archive's MD5); the file is corrupt or not the "
                     f"{dataset} file it is named after — delete it and fetch it again.")


# ---------------------------------------------------------------------------------------------
# finding and downloading the files

def _cache_dir(dataset: str) -> Path:
    env = os.environ.get("CNNBOOK_DATA")
    return (Path(env) if env else _REPO_DATA) / dataset


def _find(dataset: str, directory: Path, base: str):
    for name in (base + ".gz", base):
        p = directory / name
        if p.is_file():
            return p
    return None


def _download(dataset: str, directory: Path, names) -> None:
    import urllib.request
    directory.mkdir(parents=True, exist_ok=True)
    for base in names:
        target = directory / (base + ".gz")
        if target.is_file():
            continue
        url = _URLS[dataset] + base + ".gz"
        tmp = target.with_suffix(".gz.part")
        with urllib.request.urlopen(url, timeout=60) as r, open(tmp, "wb") as f:
            f.write(r.read())
        tmp.replace(target)
        try:
            _verify(dataset, target)
        except ValueError:
            target.unlink(missing_ok=True)                      # never keep a bad download
            raise


def _locate(dataset: str, split: str, root) -> tuple:
    names = _FILES[split]
    if root is not None:
        dirs = [Path(root)]
    else:
        dirs = [_cache_dir(dataset), _SYSTEM_DIRS[dataset]]
    for d in dirs:
        found = [_find(dataset, d, b) for b in names]
        if all(found):
            return tuple(found)
    if root is None:
        d = _cache_dir(dataset)
        try:
            _download(dataset, d, names)
        except OSError as e:
            raise FileNotFoundError(
                f"load_{dataset.replace('-', '_')}: the {split} files {', '.join(names)} (.gz) "
                f"were not found in {d} or {_SYSTEM_DIRS[dataset]}, and downloading them from "
                f"{_URLS[dataset]} failed ({e}). Get them with `{_INSTALL_HINT[dataset]}`, or "
                f"place the .gz files in {d} (set $CNNBOOK_DATA to use another directory)."
            ) from None
        return tuple(d / (b + ".gz") for b in names)
    raise FileNotFoundError(f"load_{dataset.replace('-', '_')}: the {split} files "
                            f"{', '.join(names)} (plain or .gz) are not in {root}.")


@functools.lru_cache(maxsize=None)
def _load_idx_pair(dataset: str, split: str, root, checksum: bool) -> tuple:
    img_path, lbl_path = _locate(dataset, split, root)
    if checksum:
        _verify(dataset, img_path)
        _verify(dataset, lbl_path)
    images, labels = read_idx(img_path), read_idx(lbl_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"{dataset}: {img_path} should hold uint8 images (N, H, W), found "
                         f"{images.dtype} with shape {images.shape}.")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise ValueError(f"{dataset}: {lbl_path} should hold uint8 labels (N,), found "
                         f"{labels.dtype} with shape {labels.shape}.")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{dataset}: {img_path} has {images.shape[0]} images but {lbl_path} has "
                         f"{labels.shape[0]} labels; the counts must match — one of the files is "
                         f"from another split or data set.")
    if labels.size and labels.max() > 9:
        raise ValueError(f"{dataset}: {lbl_path} has label {int(labels.max())}; expected classes "
                         f"0..9.")
    x = (images.astype(np.float32) / np.float32(255))[:, None]  # (N, 1, H, W) in [0, 1]
    y = labels.astype(np.int64)                                 # (N,)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


def _check_split(fn: str, split) -> str:
    if split not in _FILES:
        raise ValueError(f"{fn}: split must be 'train' or 'test', got split={split!r}.")
    return split


def _readonly_views(x: np.ndarray, y: np.ndarray) -> tuple:
    return x.view(), y.view()                                  # views of read-only arrays stay read-only


def load_fashion_mnist(split="train", *, root=None, checksum=True):
    """Fashion-MNIST: ``x`` float32 ``(N, 1, 28, 28)`` in [0, 1], ``y`` int64 ``(N,)``.

    N is 60000 for ``split="train"`` and 10000 for ``"test"``; class ``k`` is
    ``FASHION_MNIST_CLASSES[k]``. ``root`` reads the IDX files from that directory only (no
    search, no download); ``checksum=False`` skips the checksum table (structure is still
    checked). The arrays are read-only; ``x.copy()`` gives a writable one.
    """
    _check_split("load_fashion_mnist", split)
    return _readonly_views(*_load_idx_pair("fashion-mnist", split,
                                           None if root is None else str(root), bool(checksum)))


def load_mnist(split="train", *, root=None, checksum=True):
    """MNIST handwritten digits: ``x`` float32 ``(N, 1, 28, 28)`` in [0, 1], ``y`` int64 ``(N,)``.

    Arguments as in :func:`load_fashion_mnist`.
    """
    _check_split("load_mnist", split)
    return _readonly_views(*_load_idx_pair("mnist", split,
                                           None if root is None else str(root), bool(checksum)))


@functools.lru_cache(maxsize=None)
def _digits() -> tuple:
    from sklearn.datasets import load_digits as sk_load_digits
    d = sk_load_digits()
    x = (d.images.astype(np.float32) / np.float32(16))[:, None]  # (1797, 1, 8, 8); raw 0..16
    y = d.target.astype(np.int64)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


def load_digits():
    """scikit-learn's 8x8 handwritten digits: ``x`` float32 ``(1797, 1, 8, 8)`` in [0, 1]
    (the raw values 0..16 divided by 16), ``y`` int64 ``(1797,)``. Read-only arrays."""
    return _readonly_views(*_digits())


# ---------------------------------------------------------------------------------------------
# sample photos

# scikit-image images bundled in its wheel (no network needed): 2-D gray or H x W x 3 RGB, uint8
SAMPLE_IMAGES = ("astronaut", "brick", "camera", "cat", "chelsea", "clock", "coffee", "coins",
                 "grass", "gravel", "hubble_deep_field", "immunohistochemistry", "moon", "page",
                 "retina", "rocket", "text")


@functools.lru_cache(maxsize=None)
def _raw_image(name: str) -> np.ndarray:
    import skimage.data
    img = np.asarray(getattr(skimage.data, name)())
    img.flags.writeable = False
    return img


def sample_image(name, as_gray=False, raw=False):
    """One of scikit-image's bundled photos (``SAMPLE_IMAGES``), e.g. ``"camera"``.

    Returns a float64 array in [0, 1] of shape ``(H, W)`` (gray) or ``(H, W, 3)`` (RGB);
    ``as_gray=True`` converts RGB with ITU-R 709 luminance weights (``skimage.color.rgb2gray``);
    ``raw=True`` returns the uint8 values 0..255 instead. Always a fresh, writable copy.
    """
    if name not in SAMPLE_IMAGES:
        raise ValueError(f"sample_image: unknown image {name!r}; the images available offline "
                         f"are {', '.join(SAMPLE_IMAGES)}.")
    img = _raw_image(name)
    if as_gray and img.ndim == 3:
        from skimage.color import rgb2gray
        gray = rgb2gray(img)                                    # float64 in [0, 1]
        return np.round(gray * 255).astype(np.uint8) if raw else gray
    if raw:
        return img.copy()
    return img.astype(np.float64) / 255


# ---------------------------------------------------------------------------------------------
# validation split: choose on validation, report test once

def _check_xy(fn: str, x, y) -> tuple:
    x = np.asarray(x)
    y = np.asarray(y)
    if y.dtype.kind in "USO":
        raise TypeError(f"{fn}: y must hold integer class labels, got dtype {y.dtype}; map names "
                        f"to indices with classes, y = np.unique(y, return_inverse=True).")
    if y.dtype.kind not in "iu":
        raise TypeError(f"{fn}: y must hold integer class labels, got dtype {y.dtype}; pass the "
                        f"labels as loaded (int64), or y.astype(np.int64) if they are whole numbers.")
    if y.ndim != 1:
        raise ValueError(f"{fn}: y must be a 1-D array of integer class labels, got shape "
                         f"{y.shape}; pass one label per example.")
    if x.ndim < 1 or x.shape[0] != y.shape[0]:
        raise ValueError(f"{fn}: x has {x.shape[0] if x.ndim else 0} examples but y has "
                         f"{y.shape[0]} labels; pass matching arrays.")
    return x, y


def train_val_split(x, y, val_size, seed=0):
    """Carve a validation set out of a training set: ``(x_train, y_train), (x_val, y_val)``.

    ``val_size`` is a fraction in (0, 1) of the examples or a count ``1 <= val_size < N``. The
    split is stratified: each class gives the validation set its share of ``val_size``
    (rounded by largest remainder, so the total is exact, and never a whole class), drawn at
    random with ``np.random.default_rng(seed)``; the same seed gives the same split. Both parts
    keep the original order of the examples and are fresh arrays (the inputs are not modified).

    As scikit-learn's stratified split, it refuses a class with a single example (it cannot be
    on both sides) and a validation or training part with fewer examples than there are classes.

    Hyperparameters and recipes are chosen on ``(x_val, y_val)``; the test set is evaluated
    once, at the end.
    """
    fn = "train_val_split"
    x, y = _check_xy(fn, x, y)
    n = y.shape[0]
    if isinstance(val_size, bool) or not isinstance(val_size, (int, float, np.integer, np.floating)):
        raise TypeError(f"{fn}: val_size must be a fraction or a count, got "
                        f"{type(val_size).__name__}; use e.g. val_size=0.1 or val_size=5000.")
    if isinstance(val_size, (float, np.floating)):
        if not 0 < val_size < 1:
            raise ValueError(f"{fn}: a fractional val_size must lie in (0, 1), got "
                             f"val_size={val_size}; use e.g. val_size=0.1.")
        n_val = int(round(val_size * n))
    else:
        n_val = int(val_size)
    if not 1 <= n_val < n:
        raise ValueError(f"{fn}: val_size={val_size!r} gives {n_val} validation examples out of "
                         f"N={n}; it must leave at least one on each side (1 <= count < {n}).")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"{fn}: seed must be an int, got {type(seed).__name__}; use seed=0.")
    rng = np.random.default_rng(int(seed))
    classes, counts = np.unique(y, return_counts=True)
    if counts.min() < 2:
        lone = classes[counts < 2]
        raise ValueError(f"{fn}: the least populated class has only 1 example ({len(lone)} such "
                         f"class(es), e.g. label {int(lone[0])}); a stratified split needs at "
                         f"least 2 per class. Gather more examples of it, drop or merge it, or "
                         f"split without stratification.")
    for part, size in (("validation", n_val), ("training", n - n_val)):
        if size < len(classes):
            raise ValueError(f"{fn}: the {part} part would hold {size} examples for "
                             f"{len(classes)} classes; a stratified split needs at least one per "
                             f"class on each side. Choose val_size between {len(classes)} and "
                             f"{n - len(classes)}.")
    share = counts * (n_val / n)
    k = np.floor(share).astype(int)
    order = np.argsort(-(share - k), kind="stable")        # largest remainders get one more
    k[order[:n_val - k.sum()]] += 1
    while np.any(k > counts - 1):                          # never a whole class: move the extra
        full = np.flatnonzero(k > counts - 1)              # to the next largest remainders
        extra = int(np.sum(k[full] - (counts[full] - 1)))
        k[full] = counts[full] - 1
        room = [c for c in order if k[c] < counts[c] - 1]
        for c in room[:extra]:
            k[c] += 1
    val_mask = np.zeros(n, dtype=bool)
    for c, kc in zip(classes, k):
        idx = np.flatnonzero(y == c)
        val_mask[rng.permutation(idx)[:kc]] = True
    return (x[~val_mask], y[~val_mask]), (x[val_mask], y[val_mask])


# ---------------------------------------------------------------------------------------------
# augmentation: seeded callables on NCHW batches, composable, never modifying their input


def _check_batch(fn: str, x) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"{fn}: expected an NCHW batch with 4 dimensions, got shape {x.shape}; "
                         f"for one image use x[None].")
    return x


def _nonneg_int(fn: str, name: str, v) -> int:
    return check_int(fn, name, v, 0, f"use e.g. {name}=2")


def _shifted_crops(x, size, padding, rng):
    """Zero-pad by `padding` and cut one ``size`` window per image at a random offset."""
    N, C, H, W = x.shape
    sh, sw = size
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oy = rng.integers(0, H + 2 * padding - sh + 1, N)
    ox = rng.integers(0, W + 2 * padding - sw + 1, N)
    rows = oy[:, None] + np.arange(sh)                                       # (N, sh)
    cols = ox[:, None] + np.arange(sw)                                       # (N, sw)
    n = np.arange(N)[:, None, None, None]
    c = np.arange(C)[None, :, None, None]
    return xp[n, c, rows[:, None, :, None], cols[:, None, None, :]]         # (N, C, sh, sw)


class RandomCrop:
    """torchvision's ``RandomCrop(size, padding)`` for a batch: pad each image with `padding`
    zeros on every side, then cut a ``size`` window at an independent random position."""

    def __init__(self, size, padding=0, rng=None):
        fn = "RandomCrop"
        self.size = _image_size_pair(fn, size)
        self.padding = _nonneg_int(fn, "padding", padding)
        self.rng = make_rng(fn, rng)

    def __call__(self, x):
        x = _check_batch("RandomCrop", x)
        H, W = x.shape[2:]
        if self.size[0] > H + 2 * self.padding or self.size[1] > W + 2 * self.padding:
            raise ValueError(f"RandomCrop: size={self.size} is larger than the padded image "
                             f"({H + 2 * self.padding}, {W + 2 * self.padding}) = (H, W) = ({H}, "
                             f"{W}) + 2*padding={self.padding}; raise padding or lower size.")
        return _shifted_crops(x, self.size, self.padding, self.rng)

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomTranslate:
    """Shift each image by a random whole number of pixels in ``[-max_shift, max_shift]`` along
    each axis, filling with zeros; the size is kept (= ``RandomCrop(H, padding=max_shift)``)."""

    def __init__(self, max_shift=2, rng=None):
        self.max_shift = _nonneg_int("RandomTranslate", "max_shift", max_shift)
        self.rng = make_rng("RandomTranslate", rng)

    def __call__(self, x):
        x = _check_batch("RandomTranslate", x)
        return _shifted_crops(x, x.shape[2:], self.max_shift, self.rng)

    def __repr__(self):
        return f"RandomTranslate(max_shift={self.max_shift})"


class RandomHorizontalFlip:
    """Mirror each image left-right with probability `p` (torchvision's default p=0.5)."""

    def __init__(self, p=0.5, rng=None):
        p = check_real("RandomHorizontalFlip", "p", p, "use p=0.5")
        if not 0 <= p <= 1:
            raise ValueError(f"RandomHorizontalFlip: p is a probability and must lie in [0, 1], "
                             f"got p={p!r}; use p=0.5.")
        self.p = p
        self.rng = make_rng("RandomHorizontalFlip", rng)

    def __call__(self, x):
        x = _check_batch("RandomHorizontalFlip", x)
        flip = self.rng.random(x.shape[0]) < self.p
        out = x.copy()
        out[flip] = x[flip, :, :, ::-1]
        return out

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


class Compose:
    """Apply callables in order: ``Compose(RandomCrop(28, 2), RandomHorizontalFlip())(x)``."""

    def __init__(self, *transforms):
        if len(transforms) == 1 and isinstance(transforms[0], (list, tuple)):
            transforms = tuple(transforms[0])
        for i, t in enumerate(transforms):
            if not callable(t):
                raise TypeError(f"Compose: transform {i} is a {type(t).__name__}, not a callable; "
                                f"pass e.g. RandomHorizontalFlip().")
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self):
        return "Compose(" + ", ".join(repr(t) for t in self.transforms) + ")"


# ---------------------------------------------------------------------------------------------
# your own images: a folder per class

# torchvision.datasets.folder.IMG_EXTENSIONS, compared case-insensitively
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")

_LAYOUT_HINT = "root/<class name>/<image>.png, e.g. photos/cat/001.jpg and photos/dog/001.jpg"


def _image_size_pair(fn: str, size) -> tuple:
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (size, size)
    if not isinstance(size, (tuple, list)) or len(size) != 2 or not all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in size):
        raise TypeError(f"{fn}: size must be an int or a pair of ints (H, W), got "
                        f"size={size!r}; use e.g. size=28 or size=(32, 48).")
    if not all(s >= 1 for s in size):
        raise ValueError(f"{fn}: size must be positive, got size={tuple(int(s) for s in size)}; "
                         f"use e.g. size=28 or size=(32, 48).")
    return int(size[0]), int(size[1])


def _class_images(folder: Path) -> tuple:
    """The image files under `folder` (recursively, following symbolic links to folders and
    files as torchvision does, each real folder visited once; hidden entries skipped), sorted
    by their path relative to `folder` compared folder by folder; the non-image files skipped;
    and the hidden entries skipped."""
    found, skipped, hidden = [], [], []
    visited = set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in visited:                                           # a link back up: a loop
            dirnames[:] = []
            continue
        visited.add(real)
        hidden += [d for d in dirnames if d.startswith(".")]
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]   # prune hidden folders
        rel = Path(dirpath).relative_to(folder).parts
        for name in filenames:
            if name.startswith("."):                                  # .DS_Store, ._photo.jpg
                hidden.append(name)
            elif name.lower().endswith(IMG_EXTENSIONS):
                found.append((rel + (name,), Path(dirpath) / name))
            else:
                skipped.append(name)
    found.sort(key=lambda t: t[0])
    return [p for _, p in found], sorted(skipped), sorted(hidden)


def _some(names) -> str:
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")


def _image_to_float(img) -> np.ndarray:
    """A Pillow image -> float32 (H, W, 1) gray or (H, W, 3) RGB in [0, 1]; alpha composited
    on white."""
    from PIL import ImageOps
    img = ImageOps.exif_transpose(img)                 # phones store photos sideways + a tag
    mode = img.mode
    if mode in ("1", "L") and "transparency" not in img.info:
        return (np.asarray(img.convert("L"), dtype=np.float32) / 255)[..., None]
    if mode == "I" or mode.startswith("I;16"):         # 16-bit grayscale (e.g. 16-bit PNG)
        a = np.asarray(img, dtype=np.float32) / 65535
        return np.clip(a, 0, 1)[..., None]
    if mode == "F":
        return np.clip(np.asarray(img, dtype=np.float32), 0, 1)[..., None]
    if "A" in img.getbands() or "transparency" in img.info:
        if mode in ("L", "LA", "La"):
            a = np.asarray(img.convert("LA"), dtype=np.float32) / 255
        else:
            a = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255
        color, alpha = a[..., :-1], a[..., -1:]
        return color * alpha + (1 - alpha)             # composite on a white background
    return np.asarray(img.convert("RGB"), dtype=np.float32) / 255


def load_image_folder(root, size, channels=3):
    """Read a folder of images, one sub-folder per class: ``(x, y, classes)``.

    The layout is torchvision's ``ImageFolder``::

        root/cat/001.jpg
        root/cat/holiday/002.png      (sub-folders of a class folder belong to that class)
        root/dog/001.jpg

    ``classes`` is the sorted list of class folder names and label ``i`` means ``classes[i]``.
    ``x`` is float32 in [0, 1] shaped ``(N, channels, H, W)`` and ``y`` int64 ``(N,)``; the
    images come class by class, and within a class sorted by their path relative to the class
    folder (compared folder by folder), so the order is the same on every machine.

    Files count as images by their extension, as in torchvision: ``IMG_EXTENSIONS`` (.jpg
    .jpeg .png .ppm .bmp .pgm .tif .tiff .webp, any case). Other files (notes.txt) and hidden
    files and folders (names starting with a dot: .DS_Store, .ipynb_checkpoints) are skipped.

    Each image, of any size and mode, is turned into floats in [0, 1] and then:

    - an EXIF orientation tag (phone photos) is applied first;
    - transparency (RGBA, LA, palette with a transparent colour) is composited **on white**:
      ``rgb * alpha + (1 - alpha)``, so a transparent background becomes white, not black;
    - grayscale becomes 3 channels by repetition when ``channels=3``; colour becomes one
      channel with the weights of Pillow's ``convert("L")`` (ITU-R 601-2 luma,
      ``0.299 R + 0.587 G + 0.114 B``, computed in float) when ``channels=1``;
    - it is resized to ``size`` (an int for a square, or ``(H, W)``) with bilinear
      interpolation, antialiased when shrinking, on the float values (Pillow's ``BILINEAR``;
      the same numbers as ``torch.nn.functional.interpolate(..., mode="bilinear",
      align_corners=False, antialias=True)``, torchvision ``Resize``'s default). The aspect
      ratio is not kept: crop or pad your photos first if it matters. A constant image stays
      constant; an image already of size ``size`` is not resampled.

    Nothing on disk is written. A file that cannot be decoded (truncated, corrupt, or not an
    image despite its extension) raises a ValueError naming the file.

    >>> import tempfile
    >>> from PIL import Image
    >>> root = Path(tempfile.mkdtemp())
    >>> for name, value in (("dark", 0), ("light", 255)):
    ...     (root / name).mkdir()
    ...     Image.new("L", (40, 30), value).save(root / name / "a.png")
    >>> x, y, classes = load_image_folder(root, 28)
    >>> x.shape, x.dtype, y.tolist(), classes
    ((2, 3, 28, 28), dtype('float32'), [0, 1], ['dark', 'light'])
    >>> float(x[0].max()), float(x[1].min())
    (0.0, 1.0)
    """
    fn = "load_image_folder"
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"{fn}: root must be a path (str or pathlib.Path) to a folder, got "
                        f"{type(root).__name__}; use e.g. load_image_folder('photos', 64).")
    root = Path(root)
    size_hw = _image_size_pair(fn, size)
    if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)):
        raise TypeError(f"{fn}: channels must be the int 1 or 3, got {type(channels).__name__} "
                        f"{channels!r}; use channels=3 for colour or channels=1 for gray.")
    if channels not in (1, 3):
        raise ValueError(f"{fn}: channels must be 1 (gray) or 3 (RGB), got channels={channels}; "
                         f"use channels=3 for colour or channels=1 for gray.")
    channels = int(channels)
    if not root.exists():
        raise ValueError(f"{fn}: the folder {root} does not exist (resolved: {root.resolve()}); "
                         f"check the path, or create it with one sub-folder per class: "
                         f"{_LAYOUT_HINT}.")
    if not root.is_dir():
        raise ValueError(f"{fn}: {root} is a file, not a folder; pass the folder that holds one "
                         f"sub-folder per class: {_LAYOUT_HINT}.")
    with os.scandir(root) as it:
        entries = [(e.name, e.is_dir(), e.is_file()) for e in it]
    classes = sorted(name for name, is_dir, _ in entries if is_dir and not name.startswith("."))
    if not classes:
        loose = [name for name, _, is_file in entries
                 if is_file and name.lower().endswith(IMG_EXTENSIONS)]
        extra = (f" It holds {len(loose)} image file(s) directly (e.g. {sorted(loose)[0]}); move "
                 f"them into one sub-folder per class." if loose else "")
        raise ValueError(f"{fn}: {root} has no class folders (no sub-folders that are not "
                         f"hidden).{extra} The expected layout is {_LAYOUT_HINT}.")
    files, labels = [], []
    for label, name in enumerate(classes):
        paths, skipped, hidden = _class_images(root / name)
        if not paths:
            held = [f"{len(skipped)} file(s) with other extensions ({_some(skipped)})"] if skipped else []
            held += [f"{len(hidden)} hidden entr{'y' if len(hidden) == 1 else 'ies'} "
                     f"({_some(hidden)}), which are skipped"] if hidden else []
            seen = f"; it holds {' and '.join(held)}" if held else "; it is empty"
            raise ValueError(f"{fn}: the class folder {root / name} has no images{seen}. Images "
                             f"are files ending in {' '.join(IMG_EXTENSIONS)}; add some, or move "
                             f"the folder out of {root} if it is not a class.")
        files += paths
        labels += [label] * len(paths)

    from PIL import Image
    H, W = size_hw
    x = np.empty((len(files), channels, H, W), dtype=np.float32)
    luma = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    for n, path in enumerate(files):
        if not path.exists():
            raise ValueError(f"{fn}: {path} is a broken symbolic link (to {os.readlink(path)}); "
                             f"restore its target, or delete the link.")
        try:
            with Image.open(path) as img:
                img.load()                                 # decode now: truncation raises here
                a = _image_to_float(img)                   # (h, w, 1 or 3)
        except Exception as e:                             # noqa: BLE001 - re-raised with the file
            raise ValueError(f"{fn}: cannot read the image {path} ({type(e).__name__}: {e}); "
                             f"the file is truncated, corrupt or not an image despite its "
                             f"extension. Open it in an image viewer; re-save or delete it, or "
                             f"move it out of {root}.") from e
        if channels == 1 and a.shape[2] == 3:
            a = (a @ luma)[..., None]                      # ITU-R 601-2 luma, as convert("L")
        planes = [a[..., c] for c in range(a.shape[2])]
        if (a.shape[0], a.shape[1]) != (H, W):
            planes = [np.asarray(Image.fromarray(np.ascontiguousarray(p)).resize(
                (W, H), Image.Resampling.BILINEAR)) for p in planes]      # Pillow takes (W, H)
        for c in range(channels):
            x[n, c] = planes[c if len(planes) == channels else 0]      # gray repeated to RGB
    np.clip(x, 0, 1, out=x)                                # float round-off of the filters
    return x, np.asarray(labels, dtype=np.int64), classes


# Several garments per canvas, for segmentation and detection (cnnbook/scenes.py).
from .scenes import SCENE_CLASSES, Scenes, make_scenes  # noqa: E402

__all__ += ["make_scenes", "Scenes", "SCENE_CLASSES"]
