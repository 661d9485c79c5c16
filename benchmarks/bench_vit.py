"""One ViT-B/16 encoder layer forward + backward (batch 8 of 197 tokens of width 768, float32):
cnnbook.vit.EncoderBlock vs torchvision's EncoderBlock written out in PyTorch.

Run: ``python benchmarks/bench_vit.py [--batch 8] [--rounds 5]``. Prints a Markdown section
with the interleaved median times and the ratio. Both sides compute the gradient of every
parameter and of the input from the same weights; the first pass is checked to agree in float64
before timing.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import timing  # noqa: E402


def torch_encoder_block(hidden_dim=768, num_heads=12, mlp_dim=3072):
    """torchvision's EncoderBlock (vision_transformer.py), dropout 0."""
    import torch
    tnn = torch.nn

    class EncoderBlock(tnn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1 = tnn.LayerNorm(hidden_dim, eps=1e-6)
            self.self_attention = tnn.MultiheadAttention(hidden_dim, num_heads, batch_first=True)
            self.dropout = tnn.Dropout(0.0)
            self.ln_2 = tnn.LayerNorm(hidden_dim, eps=1e-6)
            self.mlp = tnn.Sequential(tnn.Linear(hidden_dim, mlp_dim), tnn.GELU(),
                                      tnn.Dropout(0.0), tnn.Linear(mlp_dim, hidden_dim),
                                      tnn.Dropout(0.0))

        def forward(self, input):
            x = self.ln_1(input)
            x, _ = self.self_attention(x, x, x, need_weights=False)
            x = self.dropout(x) + input
            return x + self.mlp(self.ln_2(x))

    return EncoderBlock()


def _layer(dtype):
    from cnnbook import models
    vit = models.vit_b_16(rng=0, dtype=dtype, num_layers=1)
    return vit.encoder.layers.encoder_layer_0


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)

    import torch

    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, 197, 768)).astype(np.float32)
    dout = rng.standard_normal(x.shape).astype(np.float32)
    block = _layer(np.float32).train()
    twin = torch_encoder_block()
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in block.state_dict().items()})
    twin.train()
    xt, doutt = torch.from_numpy(x), torch.from_numpy(dout)

    def ours():
        block.zero_grad()
        block(x)
        return block.backward(dout)

    def theirs():
        twin.zero_grad()
        xr = xt.clone().requires_grad_(True)
        twin(xr).backward(doutt)
        return xr.grad

    # before timing: the same layer agrees with its twin in float64 (2 sequences, same weights)
    b64 = _layer(np.float64)
    t64 = torch_encoder_block().double()
    t64.load_state_dict({k: torch.from_numpy(v) for k, v in b64.state_dict().items()})
    x64, d64 = x[:2].astype(np.float64), dout[:2].astype(np.float64)
    b64(x64)
    a = b64.backward(d64)
    xr = torch.from_numpy(x64).requires_grad_(True)
    t64(xr).backward(torch.from_numpy(d64))
    err = float(np.max(np.abs(a - xr.grad.numpy())) / np.max(np.abs(xr.grad.numpy())))
    if not err < 1e-10:
        raise SystemExit(f"bench_vit: input gradients differ (relative {err:.1e})")
    t = timing.interleaved({"cnnbook": ours, "torch": theirs}, rounds=args.rounds)
    ratio = t["cnnbook"] / t["torch"]
    print("## ViT-B/16 encoder layer forward + backward: cnnbook vs PyTorch\n")
    print(timing.header(f"python benchmarks/bench_vit.py --batch {args.batch} --rounds "
                        f"{args.rounds}"))
    print(f"One encoder layer of `cnnbook.models.vit_b_16()` (`encoder.layers.encoder_layer_0`: "
          f"LayerNorm, 12-head self-attention, LayerNorm, MLP 768-3072-768, two residual "
          f"additions) and torchvision's `EncoderBlock` written out in PyTorch with the same "
          f"weights, batch {args.batch} of 197 tokens (a 224x224 image in 16x16 patches plus the "
          f"class token), float32: forward, then backward with a random upstream gradient to "
          f"every parameter and to the input; median of {args.rounds} interleaved rounds (best "
          f"of 3 each). Before timing, the same layer in float64 (2 sequences) gives the input "
          f"gradient of the twin to {err:.1e} (relative).\n")
    print("| implementation | forward + backward (ms) |")
    print("|---|---|")
    for k in ("cnnbook", "torch"):
        print(f"| {k} | {1e3 * t[k]:.1f} |")
    print(f"\ncnnbook / torch = {ratio:.2f}x.")


if __name__ == "__main__":
    main()
