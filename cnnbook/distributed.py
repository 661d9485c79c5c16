"""Data-parallel training with PyTorch's DistributedDataParallel, checked against one process.

The library trains in NumPy so that every step can be read; scaling out over processes,
GPUs and machines is PyTorch's job. This module trains the PyTorch twin of a ``cnnbook``
model (``model.to_torch()``, same ``state_dict`` keys) in two ways and compares them:

- ``train_ddp``: K processes started with ``torch.multiprocessing`` (spawn) on 127.0.0.1,
  one ``torch.distributed`` process group (``gloo`` on the CPU, ``nccl`` on CUDA GPUs), the
  model wrapped in ``torch.nn.parallel.DistributedDataParallel``, each rank reading its shard
  of every epoch through ``DistributedSampler`` (per-rank batch = global batch / K). Rank 0
  logs the loss averaged over all ranks and writes the checkpoint (``torch.save`` of the
  ``state_dict``).
- ``train_single``: one process, no process group, the whole global batch at each step, the
  same images in the same steps.

DDP averages the gradients of the ranks (an all-reduce) before the optimizer step. The
gradient of the mean loss over a batch is the average of the gradients of the mean losses
over equal shards, so both ways take the same steps, up to float32 rounding (sums taken in a
different order). ``python -m cnnbook.distributed --world-size 2 --check`` runs both and exits
0 only when every parameter agrees.

A worker that dies or hangs makes ``train_ddp`` raise within its timeout: the parent watches
the processes, and the process group itself has a timeout for collectives that never finish.

References: Li et al. 2020 (PyTorch Distributed: DDP's design); Goyal et al. 2017 (large
minibatch SGD, the linear learning-rate scaling rule with warm-up); the PyTorch documentation
of ``torch.distributed`` and ``DistributedDataParallel``.
"""
from __future__ import annotations

import argparse
import datetime
import os
import pickle
import socket
import sys
import tempfile
import time
from collections import OrderedDict
from typing import NamedTuple

import numpy as np
from ._checks import check_int, check_positive_float

__all__ = ["free_port", "shard_indices", "synthetic_data", "load_data", "train_ddp",
           "train_single", "max_abs_difference", "ring_allreduce_bytes", "sharded_memory_bytes",
           "TrainResult", "main"]


def _check_momentum(fn: str, momentum) -> float:
    if (isinstance(momentum, bool) or not isinstance(momentum, (int, float, np.floating))
            or not 0 <= momentum < 1):
        raise ValueError(f"{fn}: momentum={momentum!r} must be a number in [0, 1); use e.g. 0.9.")
    return float(momentum)


def _check_batch(fn: str, batch_size: int, world_size: int, n: int) -> int:
    """The per-rank batch: the global batch split evenly over the ranks."""
    if batch_size % world_size:
        lo = batch_size - batch_size % world_size
        raise ValueError(f"{fn}: batch_size={batch_size} is not divisible by world_size="
                         f"{world_size} ({batch_size} % {world_size} = {batch_size % world_size}); "
                         f"every rank takes batch_size / world_size images, so use e.g. "
                         f"batch_size={lo or world_size} or {lo + world_size}.")
    if batch_size > n:
        raise ValueError(f"{fn}: batch_size={batch_size} is larger than the data set "
                         f"(n={n}); use batch_size <= {n} or more images.")
    return batch_size // world_size


def _check_data(fn: str, x, y):
    if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
        raise TypeError(f"{fn}: x and y must be NumPy arrays, got {type(x).__name__} and "
                        f"{type(y).__name__}; pass e.g. cb.data.load_fashion_mnist('train').")
    if x.ndim != 4 or y.ndim != 1 or len(x) != len(y):
        raise ValueError(f"{fn}: expected x of shape (N, C, H, W) and y of shape (N,), got "
                         f"{x.shape} and {y.shape}; pass images in NCHW with one label each.")
    if y.dtype.kind not in "iu":
        raise TypeError(f"{fn}: y must hold integer class labels, got dtype {y.dtype}; use "
                        f"y.astype(np.int64).")
    return np.ascontiguousarray(x, dtype=np.float32), np.ascontiguousarray(y, dtype=np.int64)


def _check_model(fn: str, model):
    from .nn import Module
    if not isinstance(model, Module):
        raise TypeError(f"{fn}: model must be a cnnbook.nn.Module (its PyTorch twin is trained), "
                        f"got {type(model).__name__}; build one with e.g. "
                        f"cb.models.lenet5(num_classes=10, rng=0).")
    return model


# ----------------------------------------------------------------------------------- helpers
def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (the OS picks it), for the rendezvous."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sampler(n: int, world_size: int, rank: int, seed: int, shuffle: bool = True):
    from torch.utils.data.distributed import DistributedSampler
    # a range has a length, which is all the sampler needs of a data set
    return DistributedSampler(range(n), num_replicas=world_size, rank=rank, shuffle=shuffle,
                              seed=seed)


def shard_indices(n, world_size, rank, epoch=0, seed=0, shuffle=True) -> np.ndarray:
    """The indices rank `rank` of `world_size` reads in epoch `epoch`, as ``DistributedSampler``
    deals them: one permutation of ``range(n)`` seeded with ``seed + epoch`` (the same on every
    rank), padded by repeating its start to a multiple of `world_size`, then every
    `world_size`-th entry from position `rank`. When `world_size` divides `n`, the shards of an
    epoch are disjoint and together cover the data set.

    >>> [shard_indices(6, 2, r, shuffle=False).tolist() for r in (0, 1)]
    [[0, 2, 4], [1, 3, 5]]
    """
    fn = "shard_indices"
    n = check_int(fn, "n", n, 1, "pass the number of examples")
    world_size = check_int(fn, "world_size", world_size, 1, "use world_size=1 or more processes")
    rank = check_int(fn, "rank", rank, 0, "ranks count from 0")
    if rank >= world_size:
        raise ValueError(f"{fn}: rank={rank} must be below world_size={world_size}; ranks are "
                         f"0 .. {world_size - 1}.")
    epoch = check_int(fn, "epoch", epoch, 0, "epochs count from 0")
    seed = check_int(fn, "seed", seed, 0, "use e.g. seed=0")
    s = _sampler(n, world_size, rank, seed, shuffle)
    s.set_epoch(epoch)
    return np.fromiter(iter(s), dtype=np.int64)


def synthetic_data(n=512, num_classes=10, seed=0):
    """``(x, y)``: `n` float32 images ``(n, 1, 28, 28)`` in [0, 1], each a noisy copy of one of
    `num_classes` fixed random patterns, with int64 labels: a learnable stand-in for
    Fashion-MNIST that needs no files."""
    fn = "synthetic_data"
    n = check_int(fn, "n", n, 1, "use e.g. n=512")
    num_classes = check_int(fn, "num_classes", num_classes, 2, "use e.g. num_classes=10")
    g = np.random.default_rng(check_int(fn, "seed", seed, 0, "use e.g. seed=0"))
    patterns = g.random((num_classes, 1, 28, 28))
    y = g.integers(0, num_classes, n)
    x = np.clip(0.6 * patterns[y] + 0.4 * g.random((n, 1, 28, 28)), 0, 1)
    return x.astype(np.float32), y.astype(np.int64)


def load_data(name="fashion-mnist", n=1024, seed=0):
    """``(x, y)``: the first `n` images of a class-balanced shuffle of the Fashion-MNIST
    training set (``name="fashion-mnist"``) or `n` images of ``synthetic_data``."""
    fn = "load_data"
    n = check_int(fn, "n", n, 1, "use e.g. n=1024")
    if name == "synthetic":
        return synthetic_data(n, seed=seed)
    if name != "fashion-mnist":
        raise ValueError(f"{fn}: name must be 'fashion-mnist' or 'synthetic', got {name!r}.")
    from .data import load_fashion_mnist
    x, y = load_fashion_mnist("train")
    if n > len(y):
        raise ValueError(f"{fn}: n={n} but the training set has {len(y)} images; "
                         f"use n <= {len(y)}.")
    idx = np.random.default_rng(seed).permutation(len(y))[:n]
    return x[idx], y[idx]


def max_abs_difference(a, b):
    """``(worst, key)``: the largest absolute difference between two state_dicts (NumPy arrays
    or tensors) with the same keys and shapes, and the key where it occurs."""
    fn = "max_abs_difference"
    if list(a) != list(b):
        raise ValueError(f"{fn}: the state_dicts have different keys: {list(a)} vs {list(b)}; "
                         f"compare two copies of the same architecture.")
    worst, where = 0.0, None
    for k in a:
        u, v = (np.asarray(t.detach().cpu().numpy() if hasattr(t, "detach") else t, np.float64)
                for t in (a[k], b[k]))
        if u.shape != v.shape:
            raise ValueError(f"{fn}: {k} has shapes {u.shape} and {v.shape}.")
        d = float(np.max(np.abs(u - v))) if u.size else 0.0
        if where is None or d > worst:
            worst, where = d, k
    return worst, where


def ring_allreduce_bytes(num_params, world_size, bytes_per_value=4) -> float:
    """Bytes each of `world_size` workers sends in one ring all-reduce of `num_params` values:
    ``2 (K - 1) / K`` times the gradient's size (a reduce-scatter, then an all-gather, each
    passing K - 1 chunks of 1/K of the gradient around the ring; Patarasuk and Yuan 2009).

    >>> ring_allreduce_bytes(1000, 4)
    6000.0
    """
    fn = "ring_allreduce_bytes"
    num_params = check_int(fn, "num_params", num_params, 0, "pass a parameter count")
    k = check_int(fn, "world_size", world_size, 1, "use world_size=1 or more workers")
    b = check_int(fn, "bytes_per_value", bytes_per_value, 1, "use 4 for float32, 2 for bf16")
    return 2 * (k - 1) / k * num_params * b


def sharded_memory_bytes(num_params, world_size, stage=0, optimizer_bytes=8, bytes_per_value=4):
    """Bytes per GPU for the parameters, gradients and optimizer state of a model with
    `num_params` parameters trained on `world_size` GPUs (activations not included).

    ``stage`` as in ZeRO (Rajbhandari et al. 2020): 0 = plain data parallelism (everything
    replicated), 1 = optimizer state sharded, 2 = gradients too, 3 = parameters too (PyTorch's
    FSDP ``FULL_SHARD``). ``optimizer_bytes`` per parameter: 8 for Adam's two float32 moments,
    4 for SGD with momentum, 0 for plain SGD.

    >>> sharded_memory_bytes(1000, 8, stage=0), sharded_memory_bytes(1000, 8, stage=3)
    (16000.0, 2000.0)
    """
    fn = "sharded_memory_bytes"
    p = check_int(fn, "num_params", num_params, 0, "pass a parameter count")
    k = check_int(fn, "world_size", world_size, 1, "use world_size=1 or more GPUs")
    stage = check_int(fn, "stage", stage, 0, "use stage 0, 1, 2 or 3")
    if stage > 3:
        raise ValueError(f"{fn}: stage={stage} must be 0, 1, 2 or 3 (ZeRO's stages).")
    opt_b = check_int(fn, "optimizer_bytes", optimizer_bytes, 0, "use 8 for Adam")
    b = check_int(fn, "bytes_per_value", bytes_per_value, 1, "use 4 for float32")
    params, grads, state = p * b, p * b, p * opt_b
    return (params / (k if stage >= 3 else 1) + grads / (k if stage >= 2 else 1)
            + state / (k if stage >= 1 else 1))


class TrainResult(NamedTuple):
    """What a training run returns.

    ``state_dict``: the final parameters and buffers (NumPy, keys of the cnnbook model);
    ``seen``: per rank, the indices of the images it trained on, shape ``(steps, batch per rank)``;
    ``losses``: the loss of the global batch at every step (averaged over ranks);
    ``seconds``: per rank, the time of the training steps (after start-up);
    ``images``: images processed in all (steps x global batch);
    ``checkpoint``: the file rank 0 wrote, or None; ``log``: rank 0's log lines.
    """
    state_dict: "OrderedDict[str, np.ndarray]"
    seen: list
    losses: np.ndarray
    seconds: list
    images: int
    checkpoint: str | None
    log: list

    @property
    def images_per_second(self) -> float:
        """Global throughput: all images over the slowest rank's training time."""
        return self.images / max(self.seconds)


class _Config(NamedTuple):
    # only small values: the spawn pipe blocks the parent if a child dies before reading a
    # large payload, so the model and the data travel as files in out_dir
    world_size: int
    steps: int
    batch_size: int
    lr: float
    momentum: float
    seed: int
    timeout: float
    backend: str
    port: int
    out_dir: str
    checkpoint: str | None
    fail_rank: int | None
    fail_step: int
    fail_mode: str


def _steps_per_epoch(n: int, batch_size: int) -> int:
    # full global batches only: every step sees exactly batch_size images on every setup
    return n // batch_size


def _to_numpy_state(sd) -> "OrderedDict[str, np.ndarray]":
    return OrderedDict((k, v.detach().cpu().numpy().copy()) for k, v in sd.items())


def _simulate_failure(cfg: _Config, rank: int, step: int) -> None:
    """The test hook of ``train_ddp``: rank ``cfg.fail_rank`` exits with status 3 at step
    ``cfg.fail_step`` (a crashed machine), or first stops responding (``fail_mode="hang"``)."""
    if rank == cfg.fail_rank and step == cfg.fail_step:
        if cfg.fail_mode == "hang":
            time.sleep(10 * cfg.timeout)
        os._exit(3)


def _worker(rank: int, cfg: _Config) -> None:
    """One rank of ``train_ddp``; runs in a spawned process (importable, hence
    in this module)."""
    import torch
    import torch.distributed as dist
    import torch.nn.functional as tF
    from torch.nn.parallel import DistributedDataParallel as DDP

    # one core per process: the ranks must not fight for cores
    torch.set_num_threads(1)
    torch.manual_seed(cfg.seed)
    cuda = cfg.backend == "nccl"
    device = torch.device(f"cuda:{rank}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
        # compare float32 with float32: no TF32 in convolutions or matrix
        # products
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    dist.init_process_group(cfg.backend,
                            init_method=f"tcp://127.0.0.1:{cfg.port}",
                            rank=rank, world_size=cfg.world_size,
                            timeout=datetime.timedelta(seconds=cfg.timeout))
    try:
        with open(os.path.join(cfg.out_dir, "model.pkl"), "rb") as f:
            model = pickle.load(f)
        with np.load(os.path.join(cfg.out_dir, "data.npz")) as d:
            x, y = d["x"], d["y"]
        twin = model.to_torch(str(device))
        # DDP broadcasts rank 0's weights
        ddp = DDP(twin, device_ids=[rank] if cuda else None)
        opt = torch.optim.SGD(ddp.parameters(), lr=cfg.lr,
                              momentum=cfg.momentum)
        n, b = len(y), cfg.batch_size // cfg.world_size
        sampler = _sampler(n, cfg.world_size, rank, cfg.seed)
        per_epoch = _steps_per_epoch(n, cfg.batch_size)
        seen, losses, log = [], [], []
        barrier = ((lambda: dist.barrier(device_ids=[rank])) if cuda
                   else dist.barrier)
        barrier()
        t0 = time.perf_counter()
        for step in range(cfg.steps):
            epoch, j = divmod(step, per_epoch)
            if j == 0:
                # a new shuffle, the same on every rank
                sampler.set_epoch(epoch)
                order = np.fromiter(iter(sampler), dtype=np.int64)
            _simulate_failure(cfg, rank, step)  # only when a test asks
            idx = order[j * b:(j + 1) * b]
            xb = torch.from_numpy(x[idx]).to(device)
            yb = torch.from_numpy(y[idx]).to(device)
            # the mean over this rank's shard
            loss = tF.cross_entropy(ddp(xb), yb)
            opt.zero_grad()
            loss.backward()  # DDP all-reduces (averages) the gradients
            opt.step()
            total = loss.detach().clone()
            dist.all_reduce(total)  # the global batch's loss, for the log
            seen.append(idx)
            losses.append(float(total) / cfg.world_size)
            if rank == 0:
                log.append(f"step {step + 1}/{cfg.steps}: "
                           f"loss {losses[-1]:.4f} "
                           f"({cfg.world_size} x {b} images)")
        barrier()
        seconds = time.perf_counter() - t0
        # one writer: no two ranks race on the file
        if rank == 0:
            path = (cfg.checkpoint
                    or os.path.join(cfg.out_dir, "checkpoint.pt"))
            torch.save(ddp.module.state_dict(), path)
        np.savez(os.path.join(cfg.out_dir, f"rank{rank}.npz"),
                 seen=np.array(seen), losses=np.array(losses),
                 seconds=seconds, log=np.array(log, dtype=str))
    finally:
        dist.destroy_process_group()


def _terminate(procs) -> None:
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(2)
        if p.is_alive():
            p.kill()
            p.join()


def train_ddp(model, x, y, *, world_size=2, steps=5, batch_size=64, lr=0.05, momentum=0.9,
              seed=0, timeout=60.0, checkpoint=None, backend=None, _fail_rank=None,
              _fail_step=0, _fail_mode="exit") -> TrainResult:
    """Train the PyTorch twin of `model` for `steps` SGD steps on `world_size` processes with
    ``DistributedDataParallel`` and return a ``TrainResult``.

    Every step takes a global batch of `batch_size` images, `batch_size / world_size` on each
    rank, dealt by ``DistributedSampler(shuffle=True, seed=seed)``; epochs run on with a new
    shuffle when the full batches of one are used up. Processes start with
    ``torch.multiprocessing`` (spawn) and meet at a free port of 127.0.0.1; the backend is
    ``nccl`` when CUDA has at least `world_size` GPUs, ``gloo`` otherwise. Rank 0 logs the
    loss of the global batch and saves the final ``state_dict`` with ``torch.save`` to
    `checkpoint` (a path; a temporary file when None). `model` itself is not changed.

    If a rank dies or a collective waits longer than `timeout` seconds, the run raises
    ``RuntimeError`` (or ``TimeoutError``) naming the rank instead of hanging.
    ``_fail_rank``/``_fail_step`` make that rank exit (``_fail_mode="exit"``) or stop
    responding (``"hang"``) at that step, for tests.
    """
    fn = "train_ddp"
    import torch
    import torch.multiprocessing as mp

    model = _check_model(fn, model)
    x, y = _check_data(fn, x, y)
    world_size = check_int(fn, "world_size", world_size, 1, "use world_size=1 or more processes")
    steps = check_int(fn, "steps", steps, 1, "use e.g. steps=5")
    batch_size = check_int(fn, "batch_size", batch_size, 1, "use e.g. batch_size=64")
    _check_batch(fn, batch_size, world_size, len(y))
    if world_size > len(y):
        raise ValueError(f"{fn}: world_size={world_size} exceeds the {len(y)} images; every "
                         f"rank needs data.")
    lr = check_positive_float(fn, "lr", lr, "use e.g. lr=0.05")
    momentum = _check_momentum(fn, momentum)
    timeout = check_positive_float(fn, "timeout", timeout, "use e.g. timeout=60")
    seed = check_int(fn, "seed", seed, 0, "use e.g. seed=0")
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() and torch.cuda.device_count() >= world_size \
            else "gloo"
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"{fn}: backend must be 'gloo' or 'nccl', got {backend!r}.")
    if backend == "nccl" and torch.cuda.device_count() < world_size:
        raise ValueError(f"{fn}: backend='nccl' needs one GPU per rank: world_size={world_size} "
                         f"but {torch.cuda.device_count()} CUDA devices; use backend='gloo'.")

    with tempfile.TemporaryDirectory(prefix="cnnbook-ddp-") as tmp:
        with open(os.path.join(tmp, "model.pkl"), "wb") as f:
            pickle.dump(model, f)
        np.savez(os.path.join(tmp, "data.npz"), x=x, y=y)
        cfg = _Config(world_size, steps, batch_size, lr, momentum, seed,
                      timeout, backend, free_port(), tmp,
                      None if checkpoint is None else os.fspath(checkpoint),
                      _fail_rank, int(_fail_step), _fail_mode)
        ctx = mp.start_processes(_worker, args=(cfg,), nprocs=world_size, join=False,
                                 start_method="spawn")
        # start-up (imports, rendezvous) gets its own allowance on top of the run's timeout
        deadline = time.monotonic() + timeout + 60
        try:
            while not ctx.join(timeout=0.2, grace_period=2):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{fn}: the {world_size} workers did not finish within "
                                       f"{timeout:.0f} s (+60 s start-up); they were stopped. "
                                       f"A rank is stuck; raise timeout= if the run is only slow.")
        except mp.ProcessExitedException as e:
            raise RuntimeError(f"{fn}: rank {e.error_index} of {world_size} died ({e}); the other "
                               f"ranks were stopped. Every rank must finish for the all-reduce "
                               f"to complete: check that rank's memory and logs, then rerun."
                               ) from None
        except mp.ProcessRaisedException as e:
            raise RuntimeError(f"{fn}: rank {e.error_index} of {world_size} raised an exception; "
                               f"the other ranks were stopped. A collective that timed out "
                               f"(timeout={timeout:g} s) means another rank is stuck or gone."
                               f"{e}") from None
        finally:
            _terminate(ctx.processes)
        ranks = [np.load(os.path.join(tmp, f"rank{r}.npz")) for r in range(world_size)]
        path = cfg.checkpoint or os.path.join(tmp, "checkpoint.pt")
        state = torch.load(path, map_location="cpu", weights_only=True)
        return TrainResult(
            state_dict=_to_numpy_state(state),
            seen=[r["seen"] for r in ranks],
            losses=ranks[0]["losses"],
            seconds=[float(r["seconds"]) for r in ranks],
            images=steps * batch_size,
            checkpoint=cfg.checkpoint,
            log=[str(s) for s in ranks[0]["log"]])


def train_single(model, x, y, *, steps=5, batch_size=64, lr=0.05, momentum=0.9,
                 seed=0) -> TrainResult:
    """The reference for ``train_ddp``: the same SGD steps in this process, without any process
    group, each step on the whole global batch of `batch_size` images (the same images
    ``train_ddp`` spreads over its ranks in that step, from ``DistributedSampler`` with one
    replica). Runs on the CPU with the twin of `model`; `model` itself is not changed."""
    fn = "train_single"
    import torch
    import torch.nn.functional as tF

    model = _check_model(fn, model)
    x, y = _check_data(fn, x, y)
    steps = check_int(fn, "steps", steps, 1, "use e.g. steps=5")
    batch_size = check_int(fn, "batch_size", batch_size, 1, "use e.g. batch_size=64")
    _check_batch(fn, batch_size, 1, len(y))
    lr = check_positive_float(fn, "lr", lr, "use e.g. lr=0.05")
    momentum = _check_momentum(fn, momentum)
    seed = check_int(fn, "seed", seed, 0, "use e.g. seed=0")
    torch.manual_seed(seed)
    twin = model.to_torch("cpu")
    opt = torch.optim.SGD(twin.parameters(), lr=lr, momentum=momentum)
    sampler = _sampler(len(y), 1, 0, seed)
    per_epoch = _steps_per_epoch(len(y), batch_size)
    seen, losses = [], []
    t0 = time.perf_counter()
    for step in range(steps):
        epoch, j = divmod(step, per_epoch)
        if j == 0:
            sampler.set_epoch(epoch)
            order = np.fromiter(iter(sampler), dtype=np.int64)
        idx = order[j * batch_size:(j + 1) * batch_size]
        loss = tF.cross_entropy(twin(torch.from_numpy(x[idx])), torch.from_numpy(y[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        seen.append(idx)
        losses.append(float(loss.detach()))
    seconds = time.perf_counter() - t0
    return TrainResult(_to_numpy_state(twin.state_dict()), [np.array(seen)], np.array(losses),
                       [seconds], steps * batch_size, None, [])


# ----------------------------------------------------------------------------------- CLI
def main(argv=None) -> int:
    """``python -m cnnbook.distributed --world-size 2 --check``: train LeNet-5's twin with DDP
    and, with ``--check``, on one process with the full batch; exit 0 only if the parameters
    agree within ``--tol``."""
    p = argparse.ArgumentParser(prog="python -m cnnbook.distributed",
                                description="Data-parallel training of LeNet-5's PyTorch twin "
                                            "with DistributedDataParallel.")
    p.add_argument("--world-size", type=int, default=2, help="number of processes (default 2)")
    p.add_argument("--steps", type=int, default=5, help="SGD steps (default 5)")
    p.add_argument("--batch-size", type=int, default=64, help="global batch (default 64)")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--data", choices=("fashion-mnist", "synthetic"), default="fashion-mnist")
    p.add_argument("--n", type=int, default=1024, help="images in the training subset")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=60.0, help="seconds before a stuck run fails")
    p.add_argument("--checkpoint", default=None, help="where rank 0 saves the state_dict")
    p.add_argument("--check", action="store_true",
                   help="also train on one process with the full batch and compare parameters")
    p.add_argument("--tol", type=float, default=1e-5,
                   help="largest absolute parameter difference accepted (float32)")
    args = p.parse_args(argv)

    from .models import lenet5
    x, y = load_data(args.data, args.n, seed=args.seed)
    model = lenet5(num_classes=10, rng=args.seed)
    kw = dict(steps=args.steps, batch_size=args.batch_size, lr=args.lr, momentum=args.momentum,
              seed=args.seed)
    res = train_ddp(model, x, y, world_size=args.world_size, timeout=args.timeout,
                    checkpoint=args.checkpoint, **kw)
    print("\n".join(res.log))
    print(f"{args.world_size} processes: {res.images} images in {max(res.seconds):.2f} s, "
          f"{res.images_per_second:.0f} images/s")
    if not args.check:
        return 0
    ref = train_single(model, x, y, **kw)
    worst, key = max_abs_difference(res.state_dict, ref.state_dict)
    ok = worst <= args.tol
    print(f"worst |difference| between {args.world_size}-process DDP and 1-process full-batch "
          f"parameters after {args.steps} steps: {worst:.3g} (in {key}; tolerance {args.tol:g}): "
          f"{'they agree' if ok else 'THEY DIFFER'}")
    return 0 if ok else 1


if __name__ == "__main__":
    # run the module's own copy, so that the spawned ranks unpickle cnnbook.distributed._worker
    # rather than a function of __main__
    from cnnbook.distributed import main as _main
    sys.exit(_main())
