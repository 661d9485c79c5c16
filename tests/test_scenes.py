"""cnnbook.data.make_scenes: Fashion-MNIST garments on a canvas, with masks, boxes and labels."""
import numpy as np
import pytest

from cnnbook import data as D
from cnnbook import scenes as S

pytestmark = pytest.mark.skipif(
    not (D._SYSTEM_DIRS["fashion-mnist"] / "train-images-idx3-ubyte.gz").is_file(),
    reason="Debian's dataset-fashion-mnist is not installed")


@pytest.fixture(scope="module")
def scenes():
    return D.make_scenes("val", 60, size=48, max_objects=4, seed=3)


def test_shapes_types_and_ranges(scenes):
    x, masks, boxes, labels = scenes
    assert x.shape == (60, 1, 48, 48) and x.dtype == np.float32
    assert masks.shape == (60, 48, 48) and masks.dtype == np.int64
    assert len(boxes) == len(labels) == 60
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert set(np.unique(masks)) <= set(range(11))
    for b, lab in zip(boxes, labels):
        assert b.dtype == np.float32 and b.shape == (len(lab), 4) and lab.dtype == np.int64
        assert 1 <= len(lab) <= 4 and ((lab >= 1) & (lab <= 10)).all()
        assert (b[:, 0] < b[:, 2]).all() and (b[:, 1] < b[:, 3]).all()
        assert (b >= 0).all() and (b <= 48).all()


def test_masks_agree_with_images_boxes_and_labels(scenes):
    x, masks, boxes, labels = scenes
    # background pixels are black; every garment pixel has its class in the mask
    assert (x[:, 0][masks == 0] == 0).all()
    for i in range(len(masks)):
        present = set(np.unique(masks[i])) - {0}
        assert present == set(labels[i].tolist())
        covered = np.zeros(masks[i].shape, bool)
        for (x1, y1, x2, y2), lab in zip(boxes[i].astype(int), labels[i]):
            inside = masks[i, y1:y2, x1:x2] == lab
            # the box is tight: its first and last rows and columns hold the object
            assert inside[0].any() and inside[-1].any()
            assert inside[:, 0].any() and inside[:, -1].any()
            covered[y1:y2, x1:x2] = True
        assert (masks[i][~covered] == 0).all()          # no labelled pixel outside every box


def test_deterministic_prefix_and_read_only():
    a = D.make_scenes("train", 12, size=40, seed=5)
    b = D.make_scenes("train", 5, size=40, seed=5)
    np.testing.assert_array_equal(a.x[:5], b.x)
    np.testing.assert_array_equal(a.masks[:5], b.masks)
    for u, v in zip(a.boxes[:5], b.boxes):
        np.testing.assert_array_equal(u, v)
    c = D.make_scenes("train", 5, size=40, seed=6)
    assert not np.array_equal(b.x, c.x)
    with pytest.raises(ValueError):
        a.x[0, 0, 0, 0] = 1.0


def test_splits_differ_and_test_uses_the_test_garments():
    tr = D.make_scenes("train", 4, size=40, seed=0)
    va = D.make_scenes("val", 4, size=40, seed=0)
    te = D.make_scenes("test", 4, size=40, seed=0)
    assert not np.array_equal(tr.x, va.x) and not np.array_equal(va.x, te.x)
    assert S._SPLITS["val"][2] == S._SPLITS["train"][3]  # val garments follow train's


def test_z_order_later_objects_on_top():
    # every object keeps at least half of its footprint visible, so each label shows
    x, masks, boxes, labels = D.make_scenes("test", 30, size=40, max_objects=6, seed=1)
    for m, lab in zip(masks, labels):
        for v in set(lab.tolist()):
            assert (m == v).sum() > 0


@pytest.mark.parametrize("kwargs, exc, words", [
    (dict(split="valid", n=2), ValueError, "split must be 'train', 'val' or 'test'"),
    (dict(split="val", n=-1), ValueError, "n=-1"),
    (dict(split="val", n=2.0), TypeError, "n must be an integer"),
    (dict(split="val", n=2, size=20), ValueError, "size=20"),
    (dict(split="val", n=2, max_objects=2, min_objects=3), ValueError, "min_objects=3"),
    (dict(split="val", n=2, size=32, scale=(1.0, 2.0)), ValueError, "scale=(1.0, 2.0)"),
    (dict(split="val", n=2, scale=1.0), TypeError, "scale must be a pair"),
])
def test_bad_arguments(kwargs, exc, words):
    with pytest.raises(exc, match="make_scenes") as e:
        D.make_scenes(**kwargs)
    assert words in str(e.value)
