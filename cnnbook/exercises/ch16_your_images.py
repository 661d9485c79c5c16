"""Self-checks for the chapter on your own dataset. Every answer is computed with the library."""
import numpy as np

from . import exercise


@exercise("ch16-orange-gray", "The grey value (0-255) that Pillow's convert('L') gives the RGB "
          "pixel (255, 128, 0)")
def pillow_gray_of_orange():
    from PIL import Image
    return Image.new("RGB", (1, 1), (255, 128, 0)).convert("L").getpixel((0, 0))


@exercise("ch16-crop-left", "Columns removed on the left when a 640x480 (W x H) photo is "
          "centre-cropped to a square")
def centre_crop_left_columns():
    from PIL import Image
    W, H = 640, 480
    left = (W - H) // 2
    img = Image.new("L", (W, H))
    img.paste(255, (left, 0, left + H, H))                     # mark the square that is kept
    col = np.asarray(img)[0]
    return int(np.argmax(col > 0))                             # first column kept


@exercise("ch16-train-per-class", "Training images per class of a 5 x 200 folder after "
          "train_val_split(x, y, 0.2) for the test set and train_val_split(rest, 0.25) for "
          "validation")
def training_images_per_class():
    from ..data import train_val_split
    y = np.repeat(np.arange(5), 200)
    (x_rest, y_rest), _ = train_val_split(np.zeros((1000, 1)), y, 0.2, seed=0)
    (_, y_tr), _ = train_val_split(x_rest, y_rest, 0.25, seed=1)
    counts = np.bincount(y_tr)
    return int(counts[0]) if np.all(counts == counts[0]) else counts.tolist()


@exercise("ch16-augment-count", "Different results at most of RandomCrop(28, padding=2) followed "
          "by RandomHorizontalFlip on one 28x28 image")
def distinct_augmentations():
    from ..data import Compose, RandomCrop, RandomHorizontalFlip
    img = np.random.default_rng(0).random((1, 1, 28, 28))      # no symmetry: all results differ
    aug = Compose(RandomCrop(28, padding=2, rng=0), RandomHorizontalFlip(rng=1))
    seen = {aug(img).tobytes() for _ in range(2000)}
    return len(seen)
