"""cnnbook.data.load_image_folder: a folder per class read into an NCHW float32 batch; and
data/README.md agrees with the checksums the library checks."""
import doctest
import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cnnbook as cb
from cnnbook import data as cbdata
from cnnbook.data import load_image_folder

REPO = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------
# a small tree with every kind of file the loader meets

def _rgb(h, w, seed):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture
def tree(tmp_path):
    """root/{bag, coat, shoe}: PNG and JPEG, L/RGB/RGBA, several sizes, nested folders, and
    files that must be skipped (.txt, .DS_Store, hidden folders, a hidden class folder)."""
    root = tmp_path / "photos"
    # created out of alphabetical order on purpose: classes and files come back sorted
    (root / "shoe" / "zz_sub").mkdir(parents=True)
    (root / "coat").mkdir()
    (root / "bag" / "a_sub").mkdir(parents=True)
    (root / "bag" / ".ipynb_checkpoints").mkdir()
    (root / ".hidden_class").mkdir()

    Image.new("L", (20, 10), 51).save(root / "shoe" / "b.png")                 # gray, 10x20
    Image.fromarray(_rgb(30, 30, 1)).save(root / "shoe" / "a.PNG")              # upper case
    Image.new("RGB", (8, 8), (255, 0, 0)).save(root / "shoe" / "zz_sub" / "c.png")
    Image.new("RGB", (40, 60), (0, 128, 255)).save(root / "coat" / "x.jpg", quality=95)
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 0                                                            # transparent
    Image.fromarray(rgba).save(root / "coat" / "y.png")                         # RGBA
    Image.new("L", (28, 28), 255).save(root / "bag" / "m.jpeg")
    Image.new("L", (12, 12), 0).save(root / "bag" / "a_sub" / "z.png")
    Image.new("L", (12, 12), 0).save(root / "bag" / "b.png")
    (root / "bag" / "notes.txt").write_text("not an image")
    (root / "bag" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (root / "bag" / "._b.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")    # hidden, .png
    (root / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    Image.new("L", (5, 5), 0).save(root / "bag" / ".ipynb_checkpoints" / "old.png")
    Image.new("L", (5, 5), 0).save(root / ".hidden_class" / "h.png")
    return root


def _snapshot(root):
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(Path(root).rglob("*"))
            if p.is_file()}


def test_shapes_dtypes_labels_and_order(tree):
    x, y, classes = load_image_folder(tree, 24)
    assert classes == ["bag", "coat", "shoe"]
    assert x.shape == (8, 3, 24, 24) and x.dtype == np.float32
    assert y.dtype == np.int64 and y.tolist() == [0, 0, 0, 1, 1, 2, 2, 2]
    assert x.min() >= 0 and x.max() <= 1
    # bag: a_sub/z.png (black) < b.png (black) < m.jpeg (white), sorted folder by folder
    assert np.all(x[0] == 0) and np.all(x[1] == 0)
    assert np.allclose(x[2], 1, atol=2 / 255)
    # shoe: a.PNG (random RGB) < b.png (gray 51) < zz_sub/c.png (red)
    assert np.allclose(x[6], 51 / 255, atol=1e-6)
    assert np.allclose(x[7, 0], 1) and np.allclose(x[7, 1:], 0)
    assert x[5].std() > 0.1


def test_same_result_twice_and_files_unchanged(tree):
    before = _snapshot(tree)
    x1, y1, c1 = load_image_folder(tree, (16, 20), channels=1)
    x2, y2, c2 = load_image_folder(str(tree), (16, 20), channels=1)
    assert _snapshot(tree) == before
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2) and c1 == c2
    assert x1.shape == (8, 1, 16, 20)
    x1[:] = 0                                           # the result is a fresh, writable array


def test_rgba_composites_on_white(tmp_path):
    a = np.zeros((4, 4, 4), np.uint8)
    a[..., 0] = 255                                     # red ...
    a[:2, :, 3] = 0                                     # ... transparent in the top half
    a[2:, :, 3] = 255                                   # ... opaque in the bottom half
    a[3, 3, 3] = 128
    (tmp_path / "c").mkdir()
    Image.fromarray(a).save(tmp_path / "c" / "a.png")
    x, _, _ = load_image_folder(tmp_path, 4)
    assert np.allclose(x[0, :, :2], 1)                  # transparent -> white
    assert np.allclose(x[0, :, 2, :3], np.array([1, 0, 0])[:, None])
    alpha = 128 / 255
    assert np.allclose(x[0, :, 3, 3], [1, 1 - alpha, 1 - alpha], atol=1e-6)


def test_gray_repeats_and_rgb_becomes_luma(tmp_path):
    (tmp_path / "g").mkdir()
    (tmp_path / "r").mkdir()
    gray = np.random.default_rng(0).integers(0, 256, (9, 7), dtype=np.uint8)
    Image.fromarray(gray).save(tmp_path / "g" / "a.png")
    rgb = _rgb(9, 7, 2)
    Image.fromarray(rgb).save(tmp_path / "r" / "a.png")
    x3, _, _ = load_image_folder(tmp_path, (9, 7), channels=3)
    assert np.array_equal(x3[0, 0], gray / np.float32(255))
    assert np.array_equal(x3[0, 0], x3[0, 1]) and np.array_equal(x3[0, 0], x3[0, 2])
    assert np.array_equal(x3[1], np.transpose(rgb, (2, 0, 1)) / np.float32(255))
    x1, _, _ = load_image_folder(tmp_path, (9, 7), channels=1)
    assert np.array_equal(x1[0, 0], gray / np.float32(255))
    pil_l = np.asarray(Image.fromarray(rgb).convert("L"), np.float32) / 255     # rounded to uint8
    assert np.abs(x1[1, 0] - pil_l).max() <= 0.5 / 255 + 1e-6
    want = (rgb.astype(np.float64) @ [0.299, 0.587, 0.114]) / 255
    assert np.allclose(x1[1, 0], want, atol=1e-6)


def test_resize_constant_stays_constant_and_2x2_upsample(tmp_path):
    (tmp_path / "a").mkdir()
    Image.new("L", (37, 23), 200).save(tmp_path / "a" / "const.png")
    Image.fromarray(np.array([[0, 255], [255, 0]], np.uint8)).save(tmp_path / "a" / "two.png")
    x, _, _ = load_image_folder(tmp_path, 4, channels=1)
    assert np.allclose(x[0], 200 / 255, atol=1e-6)      # shrink and stretch, still constant
    # bilinear, half-pixel centres, edges clamped: one row [a, b] -> [a, .75a+.25b, .25a+.75b, b]
    r = np.array([0, 0.25, 0.75, 1])
    want = np.outer(1 - r, r) + np.outer(r, 1 - r)      # [[0, 1], [1, 0]] upsampled
    assert np.allclose(x[1, 0], want, atol=1e-6), x[1, 0]


def test_resize_matches_torch_bilinear_antialias(tmp_path):
    torch = pytest.importorskip("torch")
    (tmp_path / "a").mkdir()
    rgb = _rgb(37, 53, 3)
    Image.fromarray(rgb).save(tmp_path / "a" / "a.png")
    for size in [(14, 20), (50, 61), (37, 53)]:
        x, _, _ = load_image_folder(tmp_path, size)
        t = torch.from_numpy(np.transpose(rgb, (2, 0, 1))[None].astype(np.float32) / 255)
        want = torch.nn.functional.interpolate(t, size=size, mode="bilinear",
                                               align_corners=False, antialias=True)[0].numpy()
        assert x.shape == (1, 3) + size
        assert np.abs(x[0] - np.clip(want, 0, 1)).max() < 1e-5, size


def test_exif_orientation_is_applied(tmp_path):
    (tmp_path / "a").mkdir()
    img = np.zeros((10, 20), np.uint8)                  # 10 tall, 20 wide, bright left column
    img[:, 0] = 255
    exif = Image.Exif()
    exif[0x0112] = 6                                    # "rotate 90 degrees clockwise to view"
    Image.fromarray(img).save(tmp_path / "a" / "p.jpg", exif=exif, quality=100)
    x, _, _ = load_image_folder(tmp_path, (20, 10), channels=1)
    assert x[0, 0, 0].mean() > 0.8 and x[0, 0, -1].mean() < 0.2       # left column -> top row


def test_16bit_and_palette_images(tmp_path):
    (tmp_path / "a").mkdir()
    Image.fromarray(np.full((6, 6), 65535 // 4, np.uint16)).save(tmp_path / "a" / "deep.png")
    pal = Image.new("P", (6, 6), 0)
    pal.putpalette([0, 0, 255] + [0, 0, 0] * 255)
    pal.save(tmp_path / "a" / "pal.png")
    x, _, _ = load_image_folder(tmp_path, 6)
    assert np.allclose(x[0], (65535 // 4) / 65535, atol=1e-6)
    assert np.allclose(x[1, 2], 1) and np.allclose(x[1, :2], 0)


def test_docstring_example_runs():
    finder = doctest.DocTestFinder()
    tests = [t for t in finder.find(cbdata) if t.name.endswith("load_image_folder")]
    assert tests and tests[0].examples
    runner = doctest.DocTestRunner()
    for t in tests:
        runner.run(t)
    assert runner.failures == 0 and runner.tries >= 5


def test_public_names():
    assert "load_image_folder" in cbdata.__all__
    assert cb.data.load_image_folder is load_image_folder
    assert ".webp" in cbdata.IMG_EXTENSIONS and ".txt" not in cbdata.IMG_EXTENSIONS


# ---------------------------------------------------------------------------------------------
# errors: the function, the path and a fix

def test_missing_root(tmp_path):
    with pytest.raises(ValueError, match=r"load_image_folder: the folder .*nope does not exist"
                                         r".*one sub-folder per class"):
        load_image_folder(tmp_path / "nope", 28)


def test_root_is_a_file(tmp_path):
    f = tmp_path / "x.png"
    Image.new("L", (4, 4)).save(f)
    with pytest.raises(ValueError, match=r"load_image_folder: .*x\.png is a file, not a folder"):
        load_image_folder(f, 28)


def test_no_class_folders(tmp_path):
    with pytest.raises(ValueError, match=r"load_image_folder: .* has no class folders.*"
                                         r"root/<class name>/"):
        load_image_folder(tmp_path, 28)
    Image.new("L", (4, 4)).save(tmp_path / "loose.png")
    (tmp_path / ".git").mkdir()                         # hidden folders are not classes
    with pytest.raises(ValueError, match=r"1 image file\(s\) directly \(e\.g\. loose\.png\); "
                                         r"move them into one sub-folder per class"):
        load_image_folder(tmp_path, 28)


def test_class_folder_without_images(tmp_path):
    (tmp_path / "a").mkdir()
    Image.new("L", (4, 4)).save(tmp_path / "a" / "ok.png")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "notes.txt").write_text("x")
    (tmp_path / "b" / ".DS_Store").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"load_image_folder: the class folder .*b has no images; "
                                         r"it holds 1 file\(s\) with other extensions "
                                         r"\(notes\.txt\) and 1 hidden entry \(\.DS_Store\), "
                                         r"which are skipped.*\.jpg .*move the folder out"):
        load_image_folder(tmp_path, 28)
    (tmp_path / "b" / "notes.txt").unlink()
    (tmp_path / "b" / ".DS_Store").unlink()
    (tmp_path / "b" / ".thumbs").mkdir()
    Image.new("L", (4, 4)).save(tmp_path / "b" / ".thumbs" / "x.png")
    with pytest.raises(ValueError, match=r"b has no images; it holds 1 hidden entry \(\.thumbs\), "
                                         r"which are skipped\. "):
        load_image_folder(tmp_path, 28)
    (tmp_path / "b" / ".thumbs" / "x.png").unlink()
    (tmp_path / "b" / ".thumbs").rmdir()
    with pytest.raises(ValueError, match=r"b has no images; it is empty\. "):
        load_image_folder(tmp_path, 28)


def test_symbolic_links_to_class_folders_subfolders_and_files_are_followed(tmp_path):
    """As torchvision's ImageFolder (os.walk(followlinks=True)): a linked class folder, a linked
    folder inside a class and a linked file are read; a link loop is visited once."""
    store = tmp_path / "store"
    (store / "more_cats").mkdir(parents=True)
    (store / "dogs").mkdir()
    Image.new("L", (4, 4), 10).save(store / "more_cats" / "c2.png")
    Image.new("L", (4, 4), 20).save(store / "dogs" / "d1.png")
    Image.new("L", (4, 4), 30).save(store / "c3.png")
    root = tmp_path / "root"
    (root / "cat").mkdir(parents=True)
    Image.new("L", (4, 4), 40).save(root / "cat" / "c1.png")
    (root / "cat" / "more").symlink_to(store / "more_cats", target_is_directory=True)
    (root / "cat" / "z.png").symlink_to(store / "c3.png")
    (root / "cat" / "loop").symlink_to(root / "cat", target_is_directory=True)
    (root / "dog").symlink_to(store / "dogs", target_is_directory=True)
    x, y, classes = load_image_folder(root, 4, channels=1)
    assert classes == ["cat", "dog"] and y.tolist() == [0, 0, 0, 1]
    np.testing.assert_allclose(x[:, 0, 0, 0] * 255, [40, 10, 30, 20], atol=1e-4)   # c1, more/c2, z, d1
    (root / "cat" / "gone.png").symlink_to(store / "missing.png")
    with pytest.raises(ValueError, match=r"gone\.png is a broken symbolic link \(to .*missing\.png\)"):
        load_image_folder(root, 4)


def test_truncated_image_names_the_file(tmp_path):
    (tmp_path / "a").mkdir()
    good = tmp_path / "a" / "good.png"
    Image.fromarray(_rgb(64, 64, 4)).save(good)
    raw = good.read_bytes()
    (tmp_path / "a" / "broken.png").write_bytes(raw[: len(raw) // 2])
    before = _snapshot(tmp_path)
    with pytest.raises(ValueError, match=r"load_image_folder: cannot read the image .*broken\.png"
                                         r".*truncated, corrupt.*re-save or delete it"):
        load_image_folder(tmp_path, 28)
    assert _snapshot(tmp_path) == before


def test_not_an_image_despite_extension(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "fake.jpg").write_text("<html>404 not found</html>")
    with pytest.raises(ValueError, match=r"cannot read the image .*fake\.jpg "
                                         r"\(UnidentifiedImageError"):
        load_image_folder(tmp_path, 28)


@pytest.mark.parametrize("size, exc, msg", [
    (0, ValueError, r"size must be positive, got size=\(0, 0\)"),
    ((28, -1), ValueError, r"size must be positive, got size=\(28, -1\)"),
    ((28,), TypeError, r"size must be an int or a pair of ints \(H, W\), got size=\(28,\)"),
    ("28", TypeError, r"size must be an int or a pair"),
    (28.0, TypeError, r"size must be an int or a pair"),
    (True, TypeError, r"size must be an int or a pair"),
], ids=["zero", "negative", "one-tuple", "str", "float", "bool"])
def test_bad_size(tree, size, exc, msg):
    with pytest.raises(exc, match="load_image_folder: " + msg + r".*use e\.g\. size=28"):
        load_image_folder(tree, size)


@pytest.mark.parametrize("channels, exc", [(2, ValueError), (4, ValueError), (0, ValueError),
                                           (3.0, TypeError), ("rgb", TypeError),
                                           (True, TypeError)])
def test_bad_channels(tree, channels, exc):
    with pytest.raises(exc, match=r"load_image_folder: channels must be .*use channels=3"):
        load_image_folder(tree, 28, channels=channels)


def test_bad_root_type():
    with pytest.raises(TypeError, match=r"load_image_folder: root must be a path"):
        load_image_folder(None, 28)


# ---------------------------------------------------------------------------------------------
# data/README.md: its checksum table equals the library's and the installed files'

def _readme_rows():
    text = (REPO / "data" / "README.md").read_text()
    rows = re.findall(r"^\| `([^`]+)` \|.*\| `([0-9a-f]{64})` \|$", text, flags=re.M)
    assert rows, "no checksum rows found in data/README.md"
    return dict(rows)


def test_readme_checksums_match_library_constants():
    rows = _readme_rows()
    lib = {f"{ds}/{name}": known["sha256"] for (ds, name), known in cbdata._CHECKSUMS.items()}
    assert set(lib) <= set(rows), sorted(set(lib) - set(rows))
    for path, shas in lib.items():
        assert rows[path] in shas, path
    idx_rows = {p for p in rows if p.startswith(("fashion-mnist/", "mnist/"))}
    assert idx_rows == set(lib)


def test_readme_checksums_match_installed_files():
    import site
    import sklearn
    rows = _readme_rows()
    site_dir = Path(sklearn.__file__).resolve().parent.parent
    pkg_rows = {p: s for p, s in rows.items() if p.startswith(("sklearn/", "skimage/"))}
    assert {"skimage/data/astronaut.png", "skimage/data/camera.png", "skimage/data/chelsea.png",
            "skimage/data/coffee.png", "sklearn/datasets/data/digits.csv.gz"} <= set(pkg_rows)
    for p, sha in pkg_rows.items():
        f = site_dir / p
        assert f.is_file(), f"{f} missing (site-packages: {site.getsitepackages()})"
        assert hashlib.sha256(f.read_bytes()).hexdigest() == sha, p


def test_readme_lists_every_sample_photo_the_book_uses():
    used = set()
    for nb in (REPO / "book").glob("*.ipynb"):
        text = nb.read_text()
        used |= set(re.findall(r'sample_image\(\\"(\w+)\\"', text))
        for names in re.findall(r'names = \[([^\]]*)\]', text):
            used |= {n for n in re.findall(r'\\"(\w+)\\"', names) if n in cbdata.SAMPLE_IMAGES}
    rows = _readme_rows()
    assert used, "no sample_image calls found in the book"
    for name in used:
        assert f"skimage/data/{name}.png" in rows, name


def test_fashion_mnist_files_on_disk_match_readme():
    d = Path("/usr/share/datasets/fashion-mnist")
    if not d.is_dir():
        pytest.skip("dataset-fashion-mnist is not installed")
    rows = _readme_rows()
    for f in sorted(d.glob("*.gz")):
        assert hashlib.sha256(f.read_bytes()).hexdigest() == rows[f"fashion-mnist/{f.name}"]
