"""Data-parallel training with DistributedDataParallel computes what one process computes.

Each run spawns real processes (gloo on the CPU), so the runs are few and small: one 2-process
run shared by several tests, one run whose rank 1 dies, and the command line.
"""
import os
import subprocess
import sys
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import cnnbook as cb  # noqa: E402
from cnnbook import distributed as D  # noqa: E402

STEPS, BATCH, WORLD = 4, 32, 2
TOL = 1e-5                                   # float32: the sums run in a different order


@pytest.fixture(scope="module")
def data():
    return D.synthetic_data(256, seed=1)


@pytest.fixture(scope="module")
def model():
    return cb.models.lenet5(num_classes=10, rng=0)       # no batch normalization


@pytest.fixture(scope="module")
def runs(data, model, tmp_path_factory):
    x, y = data
    ckpt = tmp_path_factory.mktemp("ddp") / "lenet5.pt"
    before = model.state_dict()
    ddp = D.train_ddp(model, x, y, world_size=WORLD, steps=STEPS, batch_size=BATCH, lr=0.05,
                      momentum=0.9, seed=3, timeout=60, checkpoint=ckpt)
    single = D.train_single(model, x, y, steps=STEPS, batch_size=BATCH, lr=0.05, momentum=0.9,
                            seed=3)
    assert D.max_abs_difference(before, model.state_dict())[0] == 0     # model left as it was
    return ddp, single, before


def test_two_process_ddp_run_matches_one_process_with_the_full_batch(runs, data, model):
    """One 2-process run (spawning is the expensive part, so one test reads it four ways)."""
    ddp, single, before = runs
    _check_parameters_agree(ddp, single, before)
    _check_ranks_saw_the_global_batches(ddp, single)
    _check_checkpoint_loads_into_the_numpy_model(ddp, data)
    _check_one_shard_alone_differs(ddp, data, model)


def _check_parameters_agree(ddp, single, before):
    worst, key = D.max_abs_difference(ddp.state_dict, single.state_dict)
    assert worst < TOL, (worst, key)
    moved, _ = D.max_abs_difference(before, single.state_dict)
    assert moved > 1000 * TOL                 # the steps changed the weights: not a vacuous match
    np.testing.assert_allclose(ddp.losses, single.losses, rtol=1e-5)
    assert ddp.log and ddp.log[-1].startswith(f"step {STEPS}/{STEPS}")


def _check_one_shard_alone_differs(ddp, data, model):
    """What the all-reduce buys: rank 0's shard alone takes a different step."""
    x, y = data
    shard = ddp.seen[0].reshape(-1)
    alone = D.train_single(model, x[shard], y[shard], steps=1, batch_size=BATCH // WORLD,
                           lr=0.05, momentum=0.9, seed=3)
    one_step = D.train_single(model, x, y, steps=1, batch_size=BATCH, lr=0.05, momentum=0.9,
                              seed=3)
    assert D.max_abs_difference(alone.state_dict, one_step.state_dict)[0] > 100 * TOL


def _check_ranks_saw_the_global_batches(ddp, single):
    b = BATCH // WORLD
    assert [s.shape for s in ddp.seen] == [(STEPS, b)] * WORLD
    for step in range(STEPS):
        together = np.concatenate([s[step] for s in ddp.seen])
        assert len(set(together.tolist())) == BATCH                     # no image twice
        assert set(together.tolist()) == set(single.seen[0][step].tolist())
    assert ddp.images == single.images == STEPS * BATCH


def _check_checkpoint_loads_into_the_numpy_model(ddp, data):
    x, _ = data
    assert ddp.checkpoint is not None and os.path.exists(ddp.checkpoint)
    sd = torch.load(ddp.checkpoint, weights_only=True)
    net = cb.models.lenet5(num_classes=10, rng=1)
    net.load_state_dict(sd)
    net.eval()
    twin = cb.models.lenet5(num_classes=10, rng=1).to_torch()
    twin.load_state_dict(sd)
    twin.eval()
    xb = x[:64]
    ours = net(xb)
    with torch.no_grad():
        theirs = twin(torch.from_numpy(xb)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    assert np.array_equal(ours.argmax(1), theirs.argmax(1))
    assert D.max_abs_difference(net.state_dict(), ddp.state_dict)[0] == 0


@pytest.mark.parametrize("n,world", [(256, 2), (12, 3), (10, 4)])
def test_shards_of_an_epoch_are_disjoint_and_cover(n, world):
    for epoch in (0, 1):
        shards = [D.shard_indices(n, world, r, epoch=epoch, seed=5) for r in range(world)]
        sizes = {len(s) for s in shards}
        assert sizes == {-(-n // world)}
        allidx = np.concatenate(shards)
        assert set(allidx.tolist()) == set(range(n))                    # they cover
        padding = len(allidx) - n                                       # repeats only to pad
        assert padding == (-n) % world
        if padding == 0:
            assert len(set(allidx.tolist())) == n                       # disjoint
    e0 = np.concatenate([D.shard_indices(n, world, r, epoch=0, seed=5) for r in range(world)])
    e1 = np.concatenate([D.shard_indices(n, world, r, epoch=1, seed=5) for r in range(world)])
    assert not np.array_equal(e0, e1)                                   # a new shuffle per epoch


def test_a_dying_worker_fails_the_run_with_a_clear_error(data, model):
    x, y = data
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match=r"train_ddp: rank 1 of 2 died .*exit code 3"):
        D.train_ddp(model, x, y, world_size=2, steps=3, batch_size=BATCH, timeout=20,
                    _fail_rank=1, _fail_step=0)
    assert time.monotonic() - t0 < 20 + 60                  # the timeout, plus start-up


def test_cli_check_exits_0():
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(D.__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-m", "cnnbook.distributed", "--world-size", "2",
                          "--check", "--data", "synthetic", "--n", "128", "--steps", "3",
                          "--batch-size", "32"], capture_output=True, text=True, env=env,
                         timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "they agree" in out.stdout and "worst |difference|" in out.stdout


def test_cli_check_exits_1_when_the_parameters_differ(monkeypatch, capsys):
    """main() compares and sets the exit status; a "distributed" run that took other steps
    (here: one process with twice the learning rate, standing in for a broken all-reduce)
    must fail the check."""
    def wrong(model, x, y, *, world_size, timeout, checkpoint, **kw):
        kw["lr"] *= 2
        return D.train_single(model, x, y, **kw)
    monkeypatch.setattr(D, "train_ddp", wrong)
    code = D.main(["--world-size", "2", "--check", "--data", "synthetic", "--n", "64",
                   "--steps", "2", "--batch-size", "16"])
    out = capsys.readouterr().out
    assert code == 1 and "THEY DIFFER" in out


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(world_size=0), ValueError, r"train_ddp: world_size=0 must be at least 1"),
    (dict(world_size=2.0), TypeError, r"train_ddp: world_size must be an integer"),
    (dict(batch_size=33), ValueError, r"batch_size=33 is not divisible by world_size=2 .*"
                                      r"use e.g. batch_size=32 or 34"),
    (dict(batch_size=512), ValueError, r"batch_size=512 is larger than the data set \(n=256\)"),
    (dict(steps=0), ValueError, r"train_ddp: steps=0 must be at least 1"),
    (dict(lr=-0.1), ValueError, r"train_ddp: lr must be a finite number > 0, got lr=-0.1"),
    (dict(timeout=0), ValueError, r"train_ddp: timeout must be a finite number > 0, got timeout=0"),
    (dict(backend="mpi"), ValueError, r"backend must be 'gloo' or 'nccl'"),
])
def test_bad_arguments_raise(data, model, kwargs, exc, match):
    x, y = data
    args = dict(world_size=2, steps=1, batch_size=32)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        D.train_ddp(model, x, y, **args)


def test_bad_inputs_raise(data, model):
    x, y = data
    with pytest.raises(TypeError, match="train_ddp: model must be a cnnbook.nn.Module"):
        D.train_ddp(model.to_torch(), x, y)
    with pytest.raises(ValueError, match=r"train_ddp: expected x of shape \(N, C, H, W\)"):
        D.train_ddp(model, x[:, 0], y)
    with pytest.raises(TypeError, match="integer class labels"):
        D.train_ddp(model, x, y.astype(np.float32))
    with pytest.raises(ValueError, match="train_single: batch_size=300 is larger"):
        D.train_single(model, x, y, batch_size=300)
    with pytest.raises(ValueError, match=r"shard_indices: rank=2 must be below world_size=2"):
        D.shard_indices(10, 2, 2)
    with pytest.raises(ValueError, match=r"train_single: momentum=1.5 must be a number in \[0, 1\)"):
        D.train_single(model, x, y, momentum=1.5)
    with pytest.raises(ValueError, match="load_data: name must be 'fashion-mnist' or 'synthetic'"):
        D.load_data("cifar10")
    with pytest.raises(ValueError, match="max_abs_difference: the state_dicts have different keys"):
        D.max_abs_difference({"a": np.zeros(1)}, {"b": np.zeros(1)})


def test_ring_allreduce_bytes():
    p = cb.arithmetic.count_parameters(cb.models.lenet5())
    assert D.ring_allreduce_bytes(p, 1) == 0                     # one worker sends nothing
    assert D.ring_allreduce_bytes(p, 2) == p * 4                 # 2 (K-1)/K = 1
    assert D.ring_allreduce_bytes(p, 8) == 1.75 * p * 4
    assert D.ring_allreduce_bytes(p, 8, bytes_per_value=2) == 1.75 * p * 2
    with pytest.raises(ValueError, match="ring_allreduce_bytes: world_size=0"):
        D.ring_allreduce_bytes(p, 0)


def test_sharded_memory_bytes():
    p = 1_000_000
    plain = [D.sharded_memory_bytes(p, 8, stage=s) for s in range(4)]
    assert plain == [16 * p, 4 * p + 4 * p + 8 * p / 8, 4 * p + 12 * p / 8, 16 * p / 8]
    assert all(a > b for a, b in zip(plain, plain[1:]))
    assert D.sharded_memory_bytes(p, 1, stage=3) == 16 * p      # one GPU: nothing to shard
    assert D.sharded_memory_bytes(p, 8, stage=0, optimizer_bytes=0) == 8 * p
    with pytest.raises(ValueError, match="sharded_memory_bytes: stage=4 must be 0, 1, 2 or 3"):
        D.sharded_memory_bytes(p, 8, stage=4)
