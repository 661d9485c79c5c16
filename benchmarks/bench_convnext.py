"""One ConvNeXt block forward + backward (float32): cnnbook.models.CNBlock vs its PyTorch twin.

Run: ``python benchmarks/bench_convnext.py [--batch 8] [--dim 96] [--size 28] [--rounds 5]``.
Prints a Markdown section with the interleaved median times and the ratio. The block is
ConvNeXt-Tiny's first-stage block (7x7 depthwise convolution, LayerNorm, 1x1 expansion to 4x
the channels as a Linear on channels-last pixels, GELU, 1x1 projection, layer scale, residual)
in training mode without stochastic depth; both sides compute the gradient of every parameter
and of the input from the same weights. The first pass is checked to agree in float64.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import timing  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--dim", type=int, default=96)
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)

    import torch

    from cnnbook.modern import CNBlock

    def block(dtype):
        b = CNBlock(args.dim, 0.5, 0.0, np.random.default_rng(0), np.dtype(dtype))
        return b.train()

    rng = np.random.default_rng(0)
    shape = (args.batch, args.dim, args.size, args.size)
    x = rng.standard_normal(shape).astype(np.float32)
    dout = rng.standard_normal(shape).astype(np.float32)

    # before timing: the same block agrees with its twin in float64 (2 images)
    b64 = block(np.float64)
    t64 = b64.to_torch()
    x64, d64 = x[:2].astype(np.float64), dout[:2].astype(np.float64)
    b64(x64)
    a = b64.backward(d64)
    xr = torch.from_numpy(x64).requires_grad_(True)
    t64(xr).backward(torch.from_numpy(d64))
    b = xr.grad.numpy()
    err = float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
    if not err < 1e-9:
        raise SystemExit(f"bench_convnext: input gradients differ (relative {err:.1e})")

    ours_block = block(np.float32)
    twin = ours_block.to_torch()
    xt, doutt = torch.from_numpy(x), torch.from_numpy(dout)

    def ours():
        ours_block.zero_grad()
        ours_block(x)
        return ours_block.backward(dout)

    def theirs():
        twin.zero_grad()
        xr = xt.clone().requires_grad_(True)
        twin(xr).backward(doutt)
        return xr.grad

    t = timing.interleaved({"cnnbook": ours, "torch": theirs}, rounds=args.rounds)
    ratio = t["cnnbook"] / t["torch"]
    print("## ConvNeXt block forward + backward: cnnbook.models.CNBlock vs PyTorch\n")
    print(timing.header(f"python benchmarks/bench_convnext.py --batch {args.batch} --dim "
                        f"{args.dim} --size {args.size} --rounds {args.rounds}"))
    print(f"One ConvNeXt block (dim {args.dim}: 7x7 depthwise convolution, LayerNorm, Linear to "
          f"{4 * args.dim}, GELU, Linear back, layer scale, residual) on a batch of "
          f"{args.batch} maps of {args.size}x{args.size}, float32, training mode: forward, then "
          f"backward with a random upstream gradient to every parameter and to the input; "
          f"median of {args.rounds} interleaved rounds (best of 3 each). Before timing, the "
          f"same block in float64 (2 maps) gives the input gradient of the twin to {err:.1e} "
          f"(relative).\n")
    print("| implementation | forward + backward (ms) |")
    print("|---|---|")
    for k in ("cnnbook", "torch"):
        print(f"| {k} | {1e3 * t[k]:.1f} |")
    print(f"\ncnnbook / torch = {ratio:.2f}x.")


if __name__ == "__main__":
    main()
