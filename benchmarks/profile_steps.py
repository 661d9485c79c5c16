"""Where the time of one call goes: conv2d forward + backward on the benchmark's shape, step
by step, and the LeNet-5 training step layer by layer. A measurement, not a test.

Run: ``OMP_NUM_THREADS=2 python benchmarks/profile_steps.py [--rounds 15] [--resnet]``. Prints Markdown:
for each step the median wall time and the median CPU time (``time.process_time``, all
threads) over interleaved rounds, with the fast paths on (``cnnbook.fast``) and off
(``cnnbook.fast.disabled()``). On a shared machine the CPU times move less than the wall times.

The conv2d steps replay what ``cnnbook.conv.conv2d_forward`` / ``conv2d_backward`` and the
fast path do, with the same library helpers, one step at a time; the row "whole call" times the
functions themselves, so the steps can be checked to add up to it.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import timing  # noqa: E402

import cnnbook.conv as conv  # noqa: E402
import cnnbook.fast as fast  # noqa: E402
from cnnbook.window import Window, fold, unfold  # noqa: E402


def measure(steps: dict, rounds: int) -> dict:
    """``{name: (median wall ms, median CPU ms)}`` over interleaved rounds (one warm-up)."""
    wall = {k: [] for k in steps}
    cpu = {k: [] for k in steps}
    for f in steps.values():
        f()
    for _ in range(rounds):
        for k, f in steps.items():
            c0, t0 = time.process_time(), time.perf_counter()
            f()
            wall[k].append(time.perf_counter() - t0)
            cpu[k].append(time.process_time() - c0)
    return {k: (statistics.median(wall[k]) * 1e3, statistics.median(cpu[k]) * 1e3) for k in steps}


def conv_steps(dtype, baseline=None):
    N, C, C_out, H, K = 32, 64, 64, 32, 3
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, H)).astype(dtype)
    w = (rng.standard_normal((C_out, C, K, K)) * 0.05).astype(dtype)
    b = rng.standard_normal(C_out).astype(dtype)
    dout = rng.standard_normal((N, C_out, H, H)).astype(dtype)
    g = Window((K, K), (1, 1), (1, 1), ((1, 1), (1, 1)), (H, H))
    L, KK = H * H, C * K * K
    w_mat = w.reshape(1, C_out, KK)
    cols = unfold(x, g)
    dout_mat = dout.reshape(N, 1, C_out, L)
    cols_g = cols.reshape(N, 1, KK, L)
    out = np.matmul(w_mat, cols_g).reshape(N, C_out, H, H)
    dcols = np.matmul(w_mat.swapaxes(1, 2), dout_mat)

    def whole_ref():
        with fast.disabled():
            conv.conv2d_backward(dout, conv.conv2d_forward(x, w, b, padding=1)[1])

    def whole_fast():
        conv.conv2d_backward(dout, conv.conv2d_forward(x, w, b, padding=1)[1])

    def old_dw():                    # before: dout cols^T, examples batched
        return np.matmul(dout_mat, cols_g.swapaxes(2, 3)).sum(axis=0)

    steps = {
        "forward: im2col (pad + copy)": lambda: unfold(x, g),
        "forward: matmul w cols": lambda: np.matmul(w_mat, cols_g),
        "forward: + bias": lambda: out.__iadd__(b[:, None, None]),
        "backward: dw, dout cols^T (before)": old_dw,
        "backward: dw, (cols dout^T)^T (after)": lambda: np.matmul(
            cols_g, dout_mat.swapaxes(2, 3)).sum(axis=0).swapaxes(1, 2).reshape(w.shape),
        "backward: db": lambda: dout.sum(axis=(0, 2, 3)),
        "backward: dx, matmul w^T dout (before)": lambda: np.matmul(w_mat.swapaxes(1, 2),
                                                                    dout_mat),
        "backward: dx, col2im (before, unblocked)": lambda: fold(dcols.reshape(cols.shape),
                                                                 x.shape, g),
        "backward: dx, both in cache-sized blocks (before)": lambda: fast.conv2d_input_grad(
            w_mat, dout_mat, x.shape, g),
        "backward: dx as a convolution (after)": lambda: fast.conv2d_input_grad_by_conv(
            w, dout, x.shape, g),
        "whole call, reference (fast paths off)": whole_ref,
        "whole call, this version": whole_fast,
    }
    if baseline is not None:
        def whole_baseline():
            baseline.conv2d_backward(dout, baseline.conv2d_forward(x, w, b, padding=1)[1])
        steps["whole call, --baseline"] = whole_baseline
    return steps


def lenet_layers(rounds: int):
    """Per layer of a LeNet-5 training step: median (forward, backward) CPU ms."""
    import cnnbook.functional as F
    from cnnbook.nn import LeNet5
    rng = np.random.default_rng(0)
    x = rng.random((64, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    model = LeNet5(seed=0)
    fw = {i: [] for i in range(len(model))}
    bw = {i: [] for i in range(len(model))}
    clock = time.process_time
    for _ in range(rounds + 1):
        h = x
        for i, m in enumerate(model):
            t0 = clock()
            h = m(h)
            fw[i].append(clock() - t0)
        _, c = F.cross_entropy_forward(h, y)
        d = F.cross_entropy_backward(1.0, c)
        for i in reversed(range(len(model))):
            t0 = clock()
            d = model[i].backward(d, input_grad=i != 0)
            bw[i].append(clock() - t0)
        for p in model.parameters():
            p.grad[...] = 0
    med = statistics.median
    return [(i, type(m).__name__, med(fw[i][1:]) * 1e3, med(bw[i][1:]) * 1e3)
            for i, m in enumerate(model)]


def resnet_layers(rounds: int, batch: int = 16, size: int = 64):
    """ResNet-18 forward + backward (batch 16, 64x64, float32, training mode, a gradient for
    the input too, as ``bench_models.py``): median wall and CPU ms per step, summed by layer
    kind and, for convolutions, by shape. Each layer class's forward/backward is wrapped with
    a clock for the run (the leaf layers only: a block's time is its layers'), then restored."""
    import collections

    from cnnbook import models
    from cnnbook import nn as cnn
    model = models.resnet18(num_classes=1000, rng=0)
    x = np.random.default_rng(0).standard_normal((batch, 3, size, size)).astype(np.float32)
    dout = np.random.default_rng(1).standard_normal((batch, 1000)).astype(np.float32)
    names = {}
    for m in model.modules():
        if isinstance(m, cnn.Conv2d):
            names[id(m)] = (f"Conv2d {m.in_channels}->{m.out_channels} "
                            f"{m.kernel_size[0]}x{m.kernel_size[1]}/{m.stride[0]}")
    per_step = collections.defaultdict(lambda: [0.0, 0.0])
    classes = {type(m) for m in model.modules() if not list(m.children())}   # leaves only
    saved = {c: (vars(c).get("forward"), vars(c).get("backward")) for c in classes}

    def clocked(c, which, fn):
        def run(self, *a, **k):
            w0, c0 = time.perf_counter(), time.process_time()
            out = fn(self, *a, **k)
            acc = per_step[(names.get(id(self), c.__name__), which)]
            acc[0] += time.perf_counter() - w0
            acc[1] += time.process_time() - c0
            return out
        return run

    for c in classes:
        c.forward, c.backward = clocked(c, "forward", c.forward), clocked(c, "backward", c.backward)
    steps, totals = collections.defaultdict(list), []
    try:
        for r in range(rounds + 1):
            per_step.clear()
            t0 = time.perf_counter()
            model(x)
            model.backward(dout)
            totals.append(time.perf_counter() - t0)
            for k, (wl, cp) in per_step.items():
                steps[k].append((wl, cp))
    finally:
        for c, methods in saved.items():                # as they were: own or inherited
            for name, fn in zip(("forward", "backward"), methods):
                if fn is None:
                    delattr(c, name)
                else:
                    setattr(c, name, fn)
    med = statistics.median
    rows = [(k, med(v[0] for v in vals[1:]) * 1e3, med(v[1] for v in vals[1:]) * 1e3)
            for k, vals in steps.items()]
    return sorted(rows, key=lambda r: -r[1]), med(totals[1:]) * 1e3


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--baseline", default=None,
                    help="another cnnbook/conv.py (e.g. git show REV:cnnbook/conv.py > FILE) "
                         "whose whole call is timed in the same rounds")
    ap.add_argument("--resnet", action="store_true",
                    help="also ResNet-18 (batch 16, 64x64), layer kind by layer kind")
    ap.add_argument("--lenet-only", action="store_true",
                    help="only the LeNet-5 layers (also runs against an older cnnbook on "
                         "PYTHONPATH, for a before/after table)")
    args = ap.parse_args(argv)
    baseline = None
    if args.baseline:
        from bench_conv import load_conv
        baseline = load_conv(args.baseline)
    print("## Where the time goes: conv2d forward + backward, LeNet-5 step\n")
    extra = f" --baseline {args.baseline}" if args.baseline else ""
    print(timing.header(f"python benchmarks/profile_steps.py --rounds {args.rounds}{extra}"))
    print(f"- OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, load average "
          f"before the run: {os.getloadavg()[0]:.2f}\n")
    for dtype in () if args.lenet_only else (np.float32, np.float64):
        res = measure(conv_steps(dtype, baseline), args.rounds)
        print(f"conv2d, N=32, 64->64, 3x3, 32x32, padding 1, {np.dtype(dtype).name}; medians "
              f"of {args.rounds} interleaved rounds:\n")
        print("| step | wall ms | CPU ms |\n|---|---:|---:|")
        for k, (wl, cp) in res.items():
            print(f"| {k} | {wl:.1f} | {cp:.1f} |")
        print()
    rows = lenet_layers(args.rounds)
    print(f"LeNet-5, batch 64, float32, fast paths on: median CPU ms per layer over "
          f"{args.rounds} steps (the first layer computes no input gradient):\n")
    print("| layer | forward CPU ms | backward CPU ms |\n|---|---:|---:|")
    for i, name, f, b in rows:
        print(f"| {i} {name} | {f:.2f} | {b:.2f} |")
    print(f"| total | {sum(r[2] for r in rows):.2f} | {sum(r[3] for r in rows):.2f} |")
    if args.resnet:
        rows, total = resnet_layers(args.rounds)
        print(f"\nResNet-18, batch 16, 64x64, float32, forward + backward (input gradient "
              f"too): median wall and CPU ms per step over {args.rounds} steps, by layer (the "
              f"convolutions by shape: in->out channels, kernel/stride); whole step "
              f"{total:.1f} ms wall:\n")
        print("| layer | pass | wall ms | CPU ms |\n|---|---|---:|---:|")
        for (name, which), wl, cp in rows:
            if wl >= 0.5:
                print(f"| {name} | {which} | {wl:.1f} | {cp:.1f} |")
        print(f"| all layers | | {sum(r[1] for r in rows):.1f} | {sum(r[2] for r in rows):.1f} |")


if __name__ == "__main__":
    main()
