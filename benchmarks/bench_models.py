"""ResNet-18 forward + backward (batch 16, 64x64, float32): cnnbook.models vs a PyTorch twin.

Run: ``python benchmarks/bench_models.py [--batch 16] [--size 64] [--rounds 5]``. Prints a
Markdown section with the interleaved median times and the ratio (goal <= 1.5x). Both sides
compute the gradient of every parameter and of the input, from the same weights, in training
mode (batch statistics in BatchNorm); the first pass is checked to agree before timing.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import timing  # noqa: E402


def torch_resnet18(num_classes):
    """torchvision's ResNet-18 written out (torchvision cannot be imported beside this torch)."""
    import torch
    tnn = torch.nn

    class Block(tnn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = tnn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(cout)
            self.relu = tnn.ReLU(inplace=True)
            self.conv2 = tnn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = tnn.Sequential(tnn.Conv2d(cin, cout, 1, stride, bias=False),
                                                 tnn.BatchNorm2d(cout))

        def forward(self, x):
            idt = x if self.downsample is None else self.downsample(x)
            return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))) + idt)

    class ResNet18(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = tnn.BatchNorm2d(64)
            self.relu = tnn.ReLU(inplace=True)
            self.maxpool = tnn.MaxPool2d(3, 2, 1)
            cin = 64
            for i, c in enumerate((64, 128, 256, 512)):
                s = 1 if i == 0 else 2
                setattr(self, f"layer{i + 1}", tnn.Sequential(Block(cin, c, s), Block(c, c, 1)))
                cin = c
            self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
            self.fc = tnn.Linear(512, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return ResNet18()


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)

    import torch

    from cnnbook import models

    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, 3, args.size, args.size)).astype(np.float32)
    model = models.resnet18(num_classes=1000, rng=0)
    twin = torch_resnet18(1000)
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    model.train()
    twin.train()
    dout = rng.standard_normal((args.batch, 1000)).astype(np.float32)
    xt, doutt = torch.from_numpy(x), torch.from_numpy(dout)

    def ours():
        model.zero_grad()
        model(x)
        return model.backward(dout)

    def theirs():
        twin.zero_grad()
        xr = xt.clone().requires_grad_(True)
        twin(xr).backward(doutt)
        return xr.grad

    # before timing: the same network agrees with its twin in float64 (2 images, same weights)
    m64 = models.resnet18(num_classes=1000, rng=0, dtype=np.float64)
    t64 = torch_resnet18(1000).double()
    t64.load_state_dict({k: torch.from_numpy(v) for k, v in m64.state_dict().items()})
    x64 = x[:2].astype(np.float64)
    d64 = dout[:2].astype(np.float64)
    m64(x64)
    a = m64.backward(d64)
    xr = torch.from_numpy(x64).requires_grad_(True)
    t64(xr).backward(torch.from_numpy(d64))
    b = xr.grad.numpy()
    err = float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
    if not err < 1e-9:
        raise SystemExit(f"bench_models: input gradients differ (relative {err:.1e})")
    del m64, t64
    stats = timing.interleaved_stats({"cnnbook": ours, "torch": theirs}, rounds=args.rounds)
    t = timing.medians(stats)
    ratio = t["cnnbook"] / t["torch"]
    print("## ResNet-18 forward + backward: cnnbook.models vs PyTorch\n")
    print(timing.header(f"python benchmarks/bench_models.py --batch {args.batch} --size "
                        f"{args.size} --rounds {args.rounds}"))
    print(f"`cnnbook.models.resnet18()` and its hand-written torchvision twin with the same "
          f"weights, batch {args.batch} of {args.size}x{args.size} RGB images, float32, training "
          f"mode: forward, then backward with a random upstream gradient to every parameter and "
          f"to the input; median of {args.rounds} interleaved rounds (best of 3 each). Before "
          f"timing, the same network in float64 (2 images) gives the input gradient of the "
          f"twin to {err:.1e} (relative).\n")
    print("| implementation | forward + backward (ms) |")
    print("|---|---|")
    for k in ("cnnbook", "torch"):
        print(f"| {k} | {1e3 * t[k]:.1f} |")
    print(f"\ncnnbook / torch = {ratio:.2f}x (goal <= 1.5x: {'met' if ratio <= 1.5 else 'not met'}).")
    print(timing.spread_note(stats))


if __name__ == "__main__":
    main()
