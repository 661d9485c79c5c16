"""What a second thread buys each library: the LeNet-5 training step and conv2d forward +
backward, cnnbook and PyTorch, each on one thread and on two, in one process.

Run: ``OMP_NUM_THREADS=2 python benchmarks/bench_threads.py [--rounds 9]``. Prints a Markdown
section: per case the interleaved median times of the four variants, each library's gain from
its second thread, and the ratio cnnbook / torch at one thread and at two.

The thread counts are changed between rounds, outside the timed calls: NumPy's BLAS with
``threadpoolctl`` (the library scikit-learn uses for the same purpose), PyTorch with
``torch.set_num_threads``. Only NumPy's BLAS has threads: its copies and element-wise passes run
on one thread whatever the setting, where each PyTorch kernel runs on all of PyTorch's threads.
The cases are ``bench_lenet.py``'s step (batch 64, ``make_steps``) and ``bench_conv.py``'s conv2d (float32).
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import threadpoolctl  # noqa: E402
import torch  # noqa: E402

import timing  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    args = ap.parse_args(argv)
    if torch.get_num_threads() < 2:
        # measured (float32 conv2d forward, 16x64x32x32, 3x3): PyTorch started on one thread
        # and set to two at run time took 9.8-23.9 ms against 11.3 on one; started on two, 5.5
        raise SystemExit("bench_threads: PyTorch started with one thread, and one set to two at "
                         "run time does not use the second fully; run it with OMP_NUM_THREADS=2")
    from bench_conv import make_pair
    from bench_lenet import make_steps

    blas = threadpoolctl.ThreadpoolController().select(user_api="blas")

    def threads(n, warm=None):
        def set_threads():
            blas.limit(limits=n)
            torch.set_num_threads(n)
            for _ in range(5 if warm else 0):      # the first calls after a switch are slow
                warm()
        return set_threads

    cases = {"LeNet-5 training step, batch 64": make_steps(64),
             "conv2d f+b, N=32, 64->64, 3x3, 32x32, float32": make_pair(np.float32)[:2]}
    print("## What a second thread buys each library\n")
    print(timing.header(f"python benchmarks/bench_threads.py --rounds {args.rounds}"))
    print("Each variant runs with the thread count in its name for NumPy's BLAS "
          "(`threadpoolctl`) and for PyTorch (`torch.set_num_threads`), set between rounds and "
          "followed by 5 untimed calls; "
          f"medians of {args.rounds} interleaved rounds (best of 3 each). cnnbook's copies and "
          "element-wise passes run on one thread in both settings.\n")
    print("| case | cnnbook, 1 thread (ms) | cnnbook, 2 (ms) | torch, 1 (ms) | torch, 2 (ms) "
          "| gain cnnbook | gain torch | ratio at 1 | ratio at 2 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, (ours, theirs) in cases.items():
        fns = {(lib, n): f for n in (1, 2) for lib, f in (("cnnbook", ours), ("torch", theirs))}
        before = {k: threads(k[1], f) for k, f in fns.items()}
        t = timing.medians(timing.interleaved_stats(fns, rounds=args.rounds, before=before))
        ms = {k: 1e3 * v for k, v in t.items()}
        print(f"| {name} | {ms['cnnbook', 1]:.2f} | {ms['cnnbook', 2]:.2f} | "
              f"{ms['torch', 1]:.2f} | {ms['torch', 2]:.2f} | "
              f"{ms['cnnbook', 1] / ms['cnnbook', 2]:.2f}x | {ms['torch', 1] / ms['torch', 2]:.2f}x"
              f" | {ms['cnnbook', 1] / ms['torch', 1]:.2f}x | {ms['cnnbook', 2] / ms['torch', 2]:.2f}x |")
    print("\nGain: a library's time on one thread over its time on two. Ratio: cnnbook / torch "
          f"at the same thread count. 1-minute load average after the run "
          f"{os.getloadavg()[0]:.2f}.")


if __name__ == "__main__":
    main()
