"""2x2 max pooling (stride 2), forward + backward, cnnbook vs PyTorch on the CPU.

The input is integer-valued, so many windows hold exact ties; both libraries must send each
window's gradient to its first maximum. Run: ``python benchmarks/bench_pool.py``.
"""
from __future__ import annotations

import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import header, interleaved  # noqa: E402

import cnnbook.pool as P  # noqa: E402

GOAL = 1.0   # our time / torch's time


def case(dtype, N=32, C=64, H=32, W=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, size=(N, C, H, W)).astype(dtype)          # many exact ties
    dout = rng.standard_normal((N, C, H // 2, W // 2)).astype(dtype)

    def ours():
        out, cache = P.max_pool2d_forward(x, 2)
        return P.max_pool2d_backward(dout, cache)

    tx = torch.from_numpy(x).requires_grad_(True)
    tdout = torch.from_numpy(dout)

    def theirs():
        out = F.max_pool2d(tx, 2)
        return torch.autograd.grad(out, tx, tdout)[0]

    # Same answer before timing anything.
    if not np.array_equal(ours(), theirs().numpy()):
        raise SystemExit(f"bench_pool: gradients differ from torch for {np.dtype(dtype).name}")
    return interleaved({"cnnbook": ours, "torch": theirs})


def main():
    torch.set_num_threads(2)
    lines = ["## Pooling: 2x2 max pool, stride 2, forward + backward", "",
             header("python benchmarks/bench_pool.py"),
             "Input (32, 64, 32, 32) with integer values 0..3 (exact ties); median of interleaved "
             "rounds.", "",
             "| dtype | cnnbook (ms) | torch (ms) | ratio | goal | met |",
             "|---|---:|---:|---:|---:|:---:|"]
    for dtype in (np.float32, np.float64):
        t = case(dtype)
        ratio = t["cnnbook"] / t["torch"]
        lines.append(f"| {np.dtype(dtype).name} | {t['cnnbook'] * 1e3:.2f} | {t['torch'] * 1e3:.2f} "
                     f"| {ratio:.2f}x | <= {GOAL:.1f}x | {'yes' if ratio <= GOAL else 'no'} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
