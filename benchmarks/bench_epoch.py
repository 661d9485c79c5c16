"""A LeNet-5 training epoch-equivalent on Fashion-MNIST: cnnbook.training vs the PyTorch twin.

Run: ``python benchmarks/bench_epoch.py [--steps 200] [--batch 64] [--rounds 5]``. Both
implementations take the same `steps` mini-batches (the shuffled order of
``cnnbook.training.batch_indices``) with Adam and a one-cycle schedule, in one process; the
timings are interleaved medians (``timing.interleaved_stats``). Prints a Markdown section with the
time per step, the estimated time of a full 60,000-image epoch and the ratio (goal <= 1.4x).
``train_step`` goes back with ``input_grad=False`` (PyTorch computes no gradient for an input
that does not require grad either); a run that computes it anyway is timed for reference.
"""
from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import timing  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)

    import torch

    import cnnbook.data
    from cnnbook.nn import LeNet5
    from cnnbook.optim import Adam, OneCycleLR
    from cnnbook.training import batch_indices, loss_and_grad, train_step

    x, y = cnnbook.data.load_fashion_mnist("train")
    idx = batch_indices(len(x), args.batch, np.random.default_rng(0))[:args.steps]
    batches = [(np.ascontiguousarray(x[i]), y[i]) for i in idx]
    batches_t = [(torch.from_numpy(a), torch.from_numpy(b)) for a, b in batches]

    def run_ours():
        model = LeNet5(seed=0)
        opt = Adam(model.parameters(), lr=1e-3)
        sched = OneCycleLR(opt, max_lr=0.01, total_steps=len(batches))
        return [train_step(model, opt, xb, yb, scheduler=sched)[0] for xb, yb in batches]

    def run_ours_dx():
        # train_step, but with the gradient with respect to the images computed as well
        model = LeNet5(seed=0)
        opt = Adam(model.parameters(), lr=1e-3)
        sched = OneCycleLR(opt, max_lr=0.01, total_steps=len(batches))
        losses = []
        for xb, yb in batches:
            value, dlogits = loss_and_grad(model(xb), yb, "cross_entropy")
            model.backward(dlogits, input_grad=True)
            opt.step()
            opt.zero_grad()
            sched.step()
            losses.append(float(value))
        return losses

    def run_torch():
        twin = LeNet5(seed=0).to_torch()
        opt = torch.optim.Adam(twin.parameters(), lr=1e-3)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.01, total_steps=len(batches))
        losses = []
        for xb, yb in batches_t:
            loss = torch.nn.functional.cross_entropy(twin(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        return losses

    # same weights, same batches: the first losses must agree before the timing means anything
    a, b, c = run_ours()[:5], run_torch()[:5], run_ours_dx()[:5]
    if not np.allclose(a, b, rtol=1e-4):
        raise SystemExit(f"bench_epoch: the first losses differ: cnnbook {a} vs torch {b}")
    if not np.allclose(a, c, rtol=1e-6):
        raise SystemExit(f"bench_epoch: input_grad changed the losses: {a} vs {c}")

    runs = {"cnnbook": run_ours, "torch": run_torch, "cnnbook, input_grad=True": run_ours_dx}
    stats = timing.interleaved_stats(runs, rounds=args.rounds, repeat=1)
    t = timing.medians(stats)
    per_epoch = math.ceil(60_000 / args.batch)
    ratio = t["cnnbook"] / t["torch"]
    print("## LeNet-5 training, an epoch-equivalent: cnnbook vs PyTorch\n")
    print(timing.header(f"python benchmarks/bench_epoch.py --steps {args.steps} --batch "
                        f"{args.batch} --rounds {args.rounds}"))
    print(f"{args.steps} steps of batch {args.batch} on Fashion-MNIST, float32, Adam + one-cycle "
          f"(forward, cross-entropy, backward, update); median of {args.rounds} interleaved "
          f"rounds. `train_step` calls `model.backward(dout, input_grad=False)`: PyTorch "
          f"computes no gradient for an input that does not require grad, so neither side "
          f"computes the gradient with respect to the images; the last row does, for "
          f"reference.\n")
    print("| implementation | 200-step run (s) | per step (ms) | 60,000-image epoch, estimated (s) |"
          .replace("200", str(args.steps)))
    print("|---|---|---|---|")
    for k in ("cnnbook", "torch", "cnnbook, input_grad=True"):
        print(f"| {k} | {t[k]:.2f} | {1e3 * t[k] / args.steps:.1f} | "
              f"{per_epoch * t[k] / args.steps:.0f} |")
    print(f"\ncnnbook / torch = {ratio:.2f}x (goal <= 1.4x: {'met' if ratio <= 1.4 else 'not met'}); "
          f"with input_grad=True {t['cnnbook, input_grad=True'] / t['torch']:.2f}x.")
    print(timing.spread_note(stats))


if __name__ == "__main__":
    main()
