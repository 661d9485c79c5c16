"""Self-checks for chapter 1, images as arrays. Every answer is computed, none is typed in."""
from __future__ import annotations

import numpy as np

from . import exercise

_LUMA = np.array([0.2125, 0.7154, 0.0721])    # skimage.color.rgb2gray (BT.709 has 0.2126, 0.7152, 0.0722)


@exercise("ch01-levels-12bit", "How many intensity levels can a 12-bit channel take?")
def levels_of_a_12_bit_channel():
    return int(np.iinfo(np.uint16).max >> 4) + 1      # a 12-bit value uses the low 12 of 16 bits


@exercise("ch01-uint8-wrap", "The single value of np.array([250], dtype=np.uint8) + np.uint8(10)")
def uint8_wrap_around():
    return int((np.array([250], dtype=np.uint8) + np.uint8(10))[0])


@exercise("ch01-gray-pixel", "Grayscale value in [0, 1] of the pixel (R, G, B) = (200, 100, 50), rgb2gray luma weights",
          rtol=1e-4)
def gray_value_of_a_pixel():
    from skimage.color import rgb2gray
    return float(rgb2gray(np.array([[[200, 100, 50]]], dtype=np.uint8))[0, 0])


@exercise("ch01-batch-bytes", "Bytes taken by a float32 batch of 64 RGB images of 224 x 224 pixels")
def bytes_of_a_float32_batch():
    return int(np.empty((64, 3, 224, 224), dtype=np.float32).nbytes)


@exercise("ch01-offset", "Memory position of element [2, 1, 5, 7] of a C-contiguous (8, 3, 32, 32) array")
def memory_offset_of_an_element():
    return int(np.ravel_multi_index((2, 1, 5, 7), (8, 3, 32, 32)))
