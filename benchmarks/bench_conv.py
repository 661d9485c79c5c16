"""Speed of cnnbook's conv2d (forward + backward) against PyTorch on the CPU, in one process.

Run: ``python benchmarks/bench_conv.py``. Prints a Markdown section: a header describing the
machine, then one row per dtype with the median times and the ratio ours / torch.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from timing import header, interleaved  # noqa: E402

import cnnbook.conv as conv  # noqa: E402

CASE = dict(N=32, C_in=64, C_out=64, K=3, H=32, W=32, padding=1)
GOALS = {np.float32: 2.5, np.float64: 1.0}


def make_pair(dtype):
    c = CASE
    rng = np.random.default_rng(0)
    x = rng.standard_normal((c["N"], c["C_in"], c["H"], c["W"])).astype(dtype)
    w = (rng.standard_normal((c["C_out"], c["C_in"], c["K"], c["K"])) * 0.05).astype(dtype)
    b = rng.standard_normal(c["C_out"]).astype(dtype)
    H_out = c["H"] + 2 * c["padding"] - c["K"] + 1
    dout = rng.standard_normal((c["N"], c["C_out"], H_out, H_out)).astype(dtype)

    def ours():
        out, cache = conv.conv2d_forward(x, w, b, padding=c["padding"])
        return conv.conv2d_backward(dout, cache)

    tx, tw, tb = (torch.from_numpy(a).requires_grad_(True) for a in (x, w, b))
    tdout = torch.from_numpy(dout)

    def theirs():
        tx.grad = tw.grad = tb.grad = None
        out = torch.nn.functional.conv2d(tx, tw, tb, padding=c["padding"])
        out.backward(tdout)
        return tx.grad, tw.grad, tb.grad

    return ours, theirs


def main() -> None:
    torch.set_num_threads(2)
    c = CASE
    name = (f"conv2d fwd+bwd, N={c['N']}, {c['C_in']}->{c['C_out']}, {c['K']}x{c['K']}, "
            f"{c['H']}x{c['W']}, padding {c['padding']}")
    rows = []
    for dtype in (np.float32, np.float64):
        ours, theirs = make_pair(dtype)
        t = interleaved({"ours": ours, "torch": theirs}, rounds=5, repeat=3)
        ratio = t["ours"] / t["torch"]
        goal = GOALS[dtype]
        rows.append(f"| {name} | {np.dtype(dtype).name} | {t['ours'] * 1e3:.1f} | "
                    f"{t['torch'] * 1e3:.1f} | {ratio:.2f} | <= {goal} "
                    f"({'met' if ratio <= goal else 'missed'}) |")
    print("## conv2d speed (cnnbook vs torch CPU)\n")
    print(header("python benchmarks/bench_conv.py"))
    print("| case | dtype | ours ms | torch ms | ratio | goal |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
