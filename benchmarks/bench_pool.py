"""2x2 max pooling (stride 2), forward + backward, cnnbook vs PyTorch on the CPU.

The input is integer-valued, so many windows hold exact ties; both libraries must send each
window's gradient to its first maximum. Run: ``python benchmarks/bench_pool.py``.

Besides the two timings, each row gives a memory baseline: ``np.copyto`` between two arrays of
the input's size (it reads and writes ``x.nbytes``), and the bytes each library has to move at the
least (every array read or written once), so that a time can be read as an effective bandwidth.
"""
from __future__ import annotations

import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import header, interleaved_stats  # noqa: E402

import cnnbook.pool as P  # noqa: E402

GOALS = {"float32": 1.0, "float64": 1.2}   # our time / torch's time, at most


def bytes_moved(x: np.ndarray) -> dict:
    """The least traffic of one forward + backward, in bytes, by what each library stores.

    cnnbook: reads x, writes out and two boolean masks (x.size/2 + x.size/4 bytes); the backward
    reads dout and the masks and writes dx. torch: reads x, writes out and int64 indices
    (x.size/4 of them); the backward zero-fills dx, reads dout and the indices and writes the
    winners into dx (counted as a second pass over dx)."""
    S, n = x.nbytes, x.size
    masks = n // 2 + n // 4
    return {"cnnbook": S + S // 4 + masks + S // 4 + masks + S,
            "torch": S + S // 4 + 2 * n + S + S // 4 + 2 * n + S}


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

    copy_dst = np.empty_like(x)

    def copy():
        np.copyto(copy_dst, x)

    # Same answer before timing anything.
    if not np.array_equal(ours(), theirs().numpy()):
        raise SystemExit(f"bench_pool: gradients differ from torch for {np.dtype(dtype).name}")
    t = interleaved_stats({"cnnbook": ours, "torch": theirs, "copy": copy}, rounds=9)
    # NumPy runs these loops on one core; torch on one thread too, as a reference that other
    # programs on a shared machine disturb less.
    torch.set_num_threads(1)
    t1 = interleaved_stats({"cnnbook": ours, "torch": theirs}, rounds=9)
    torch.set_num_threads(2)
    return t, t1, x


def main():
    torch.set_num_threads(2)
    load = os.getloadavg()
    lines = ["## Pooling: 2x2 max pool, stride 2, forward + backward", "",
             header("python benchmarks/bench_pool.py"),
             f"Load average before the run (1, 5, 15 min): {load[0]:.2f}, {load[1]:.2f}, "
             f"{load[2]:.2f} on {os.cpu_count()} cores.", "",
             "Input (32, 64, 32, 32) with integer values 0..3 (exact ties); median and minimum "
             "of 9 interleaved rounds. The goal is on the medians, against torch with 2 threads; "
             "the last column times torch on 1 thread, against cnnbook again, in rounds of its "
             "own.", "",
             "| dtype | cnnbook ms (median, min) | torch ms (median, min) | ratio | ratio of minima "
             "| goal | met | torch 1 thread ms (median), ratio |",
             "|---|---:|---:|---:|---:|---:|:---:|---:|"]
    memory = ["", "Memory: `copy` is `np.copyto` of an input-sized array (it moves 2 x.nbytes); "
              "MB is the least traffic of each library (`bytes_moved`: every array read or "
              "written once); GB/s divides it by the median time.", "",
              "| dtype | copy ms | copy GB/s | cnnbook MB | cnnbook GB/s | torch MB | torch GB/s |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for dtype in (np.float32, np.float64):
        t, t1, x = case(dtype)
        name = np.dtype(dtype).name
        goal = GOALS[name]
        (ours, ours_min), (theirs, theirs_min) = t["cnnbook"], t["torch"]
        ratio = ours / theirs
        lines.append(
            f"| {name} | {ours * 1e3:.2f}, {ours_min * 1e3:.2f} | {theirs * 1e3:.2f}, "
            f"{theirs_min * 1e3:.2f} | {ratio:.2f}x | {ours_min / theirs_min:.2f}x "
            f"| <= {goal:.1f}x | {'yes' if ratio <= goal else 'no'} "
            f"| {t1['torch'][0] * 1e3:.2f}, {t1['cnnbook'][0] / t1['torch'][0]:.2f}x |")
        moved, copy = bytes_moved(x), t["copy"][0]
        memory.append(
            f"| {name} | {copy * 1e3:.2f} | {2 * x.nbytes / copy / 1e9:.1f} "
            f"| {moved['cnnbook'] / 1e6:.0f} | {moved['cnnbook'] / ours / 1e9:.1f} "
            f"| {moved['torch'] / 1e6:.0f} | {moved['torch'] / theirs / 1e9:.1f} |")
    print("\n".join(lines + memory))


if __name__ == "__main__":
    main()
