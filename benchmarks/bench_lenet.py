"""One LeNet-5 training step (batch 64, float32, SGD with momentum): cnnbook.nn vs its PyTorch twin.

Run: ``python benchmarks/bench_lenet.py [--batch 64] [--rounds 15]``. Prints a Markdown section
with the interleaved median step times, the ratio, and the time of one Fashion-MNIST epoch
(60,000 images) estimated as steps per epoch times step time. The step goes back with
``model.backward(dout, input_grad=False)``, as ``cnnbook.training`` does: like PyTorch, whose
input tensor does not require grad, it skips the gradient with respect to the images. The step
with ``input_grad=True`` is timed too, for reference.
"""
from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import timing  # noqa: E402


def make_steps(batch: int = 64):
    """``(step_ours, step_torch)``: one LeNet-5 training step (SGD with momentum) of cnnbook and
    of its PyTorch twin from the same weights, on one fixed batch; ``step_ours(input_grad=True)``
    also computes the gradient with respect to the images. Each returns its loss."""
    import torch

    import cnnbook.functional as F
    from cnnbook.nn import LeNet5
    from cnnbook.optim import SGD

    rng = np.random.default_rng(0)
    x = rng.random((batch, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, batch)
    model = LeNet5(seed=0)
    twin = model.to_torch()
    opt = SGD(model.parameters(), lr=0.01, momentum=0.9)
    opt_t = torch.optim.SGD(twin.parameters(), lr=0.01, momentum=0.9)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step_ours(input_grad=False):
        loss, c = F.cross_entropy_forward(model(x), y)
        model.backward(F.cross_entropy_backward(1.0, c), input_grad=input_grad)
        opt.step()
        opt.zero_grad()
        return loss

    def step_torch():
        loss = torch.nn.functional.cross_entropy(twin(xt), yt)
        loss.backward()
        opt_t.step()
        opt_t.zero_grad()
        return loss.detach()
    return step_ours, step_torch


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args(argv)

    step_ours, step_torch = make_steps(args.batch)

    def step_ours_dx():
        return step_ours(input_grad=True)

    # the two start from the same weights: check that the first steps agree before timing
    for i in range(3):
        a, b = float(step_ours(input_grad=i == 1)), float(step_torch())
        if not math.isclose(a, b, rel_tol=1e-4):
            raise SystemExit(f"bench_lenet: losses differ, cnnbook {a} vs torch {b}")

    fns = {"cnnbook": step_ours, "torch": step_torch, "cnnbook, input_grad=True": step_ours_dx}
    stats = timing.interleaved_stats(fns, rounds=args.rounds)
    t = timing.medians(stats)
    steps = math.ceil(60_000 / args.batch)
    ratio = t["cnnbook"] / t["torch"]
    print("## LeNet-5 training step: cnnbook.nn vs PyTorch\n")
    print(timing.header(f"python benchmarks/bench_lenet.py --batch {args.batch} --rounds {args.rounds}"))
    print(f"Batch {args.batch}, float32, forward + cross-entropy + backward + SGD(momentum=0.9) "
          f"step; median of {args.rounds} interleaved rounds (best of 3 each). The cnnbook step "
          f"calls `model.backward(dout, input_grad=False)`: PyTorch computes no gradient for an "
          f"input that does not require grad, so neither side computes the gradient with respect "
          f"to the images. The last row computes it anyway (`input_grad=True`), for reference.\n")
    print("| implementation | step (ms) | epoch of 60,000 images, estimated (s) |")
    print("|---|---|---|")
    for k in ("cnnbook", "torch", "cnnbook, input_grad=True"):
        print(f"| {k} | {1e3 * t[k]:.2f} | {steps * t[k]:.1f} |")
    print(f"\ncnnbook / torch = {ratio:.2f}x (goal <= 1.3x: {'met' if ratio <= 1.3 else 'not met'}); "
          f"with input_grad=True {t['cnnbook, input_grad=True'] / t['torch']:.2f}x.")
    print(timing.spread_note(stats))


if __name__ == "__main__":
    main()
