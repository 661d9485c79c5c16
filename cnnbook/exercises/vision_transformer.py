"""Exercises of the chapter on the vision transformer."""
from . import exercise


@exercise("vit-tokens-384", "Tokens ViT-B/16 processes for a 384x384 image (16x16 patches and the class token)")
def tokens_at_384():
    from ..vit import vit_b_16
    return vit_b_16(init="zeros", image_size=384, num_layers=1).seq_length


@exercise("vit-block-params", "Parameters of one ViT-B/16 encoder block (width 768, MLP 3072)")
def encoder_block_parameters():
    from ..arithmetic import count_parameters
    from ..vit import vit_b_16
    return count_parameters(vit_b_16(init="zeros", num_layers=1).encoder.layers[0])
