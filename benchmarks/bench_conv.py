"""Speed of cnnbook's conv2d (forward + backward) against PyTorch on the CPU, in one process.

Run: ``OMP_NUM_THREADS=2 python benchmarks/bench_conv.py``. Prints a Markdown section: a header
describing the machine, then one row per dtype with the median times and the ratio ours / torch.

``--baseline FILE`` also times another version of ``cnnbook/conv.py`` in the same rounds (e.g.
``git show REV:cnnbook/conv.py > /tmp/conv_old.py``), loaded as a module of the package, so that
two implementations are compared on the same load.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from timing import header, interleaved_stats, medians  # noqa: E402

import cnnbook.conv as conv  # noqa: E402

CASE = dict(N=32, C_in=64, C_out=64, K=3, H=32, W=32, padding=1)
GOALS = {np.float32: 1.6, np.float64: 1.0}


def load_conv(path: str):
    """Another version of cnnbook/conv.py, imported as a module of the cnnbook package."""
    name = "cnnbook._baseline_" + os.path.basename(path).replace(".", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_pair(dtype, conv=conv):
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", action="append", default=[],
                        help="another conv.py to time in the same rounds (repeatable)")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    # torch as many threads as NumPy's BLAS (OMP_NUM_THREADS, 2 when unset: both cores)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    c = CASE
    name = (f"conv2d fwd+bwd, N={c['N']}, {c['C_in']}->{c['C_out']}, {c['K']}x{c['K']}, "
            f"{c['H']}x{c['W']}, padding {c['padding']}")
    versions = {"cnnbook": conv}
    for path in args.baseline:
        versions[os.path.basename(path)] = load_conv(path)
    rows = []
    for dtype in (np.float32, np.float64):
        fns = {}
        for label, module in versions.items():
            fns[label], theirs = make_pair(dtype, module)
        fns["torch"] = theirs
        stats = interleaved_stats(fns, rounds=args.rounds, repeat=3)
        t = medians(stats)
        goal = GOALS[dtype]
        for label in versions:
            ratio = t[label] / t["torch"]
            fastest = stats[label][1] / stats["torch"][1]
            rows.append(f"| {label} | {name} | {np.dtype(dtype).name} | {t[label] * 1e3:.1f} | "
                        f"{t['torch'] * 1e3:.1f} | {ratio:.2f} | {fastest:.2f} | <= {goal} "
                        f"({'met' if ratio <= goal else 'missed'}) |")
    command = "python benchmarks/bench_conv.py" + ("".join(f" --baseline {p}" for p in args.baseline))
    print("## conv2d speed (cnnbook vs torch CPU)\n")
    print(header(command) + f"- OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
          f"load average before the run: {load:.2f}\n")
    print("| version | case | dtype | ours ms | torch ms | ratio | ratio of the fastest rounds "
          "| goal |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
