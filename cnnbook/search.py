"""Hyperparameter search with Optuna: the objective of the book's search chapter, in a module so
that worker processes can import it.

A *trial* trains a small multilayer perceptron (Flatten -> Linear -> ReLU -> Linear) on a few
thousand Fashion-MNIST images with AdamW and returns its validation accuracy. Four
hyperparameters are searched (``SEARCH_SPACE``): the learning rate, the weight decay, the hidden
width and the batch size, all on a log scale. The trial reports its validation accuracy after
every epoch (``trial.report``) and stops when the pruner says so (``trial.should_prune``), so
successive halving and Hyperband can end bad trials early. Each trial records the epochs it
trained and the seconds it took in ``trial.user_attrs``.

``python -m cnnbook.search --storage sqlite:///study.db --study-name demo --trials 4 --worker 0``
runs one worker on a study kept in a database; ``run_workers`` starts several such processes
on the same study at once. With a PostgreSQL URL instead of a SQLite file the workers may run on
different machines.

References:
- Bergstra & Bengio, "Random search for hyper-parameter optimization", JMLR 2012.
- Bergstra, Bardenet, Bengio & Kégl, "Algorithms for hyper-parameter optimization", NeurIPS 2011
  (the tree-structured Parzen estimator, TPE).
- Jamieson & Talwalkar 2016 and Li et al., ICLR/MLSys 2020 (successive halving, ASHA);
  Li et al., "Hyperband", JMLR 2018.
- Akiba et al., "Optuna: a next-generation hyperparameter optimization framework", KDD 2019.
"""
from __future__ import annotations

import argparse
import functools
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from ._checks import check_positive_int

__all__ = ["SEARCH_SPACE", "MAX_EPOCHS", "load_data", "make_model", "train_and_validate",
           "suggest", "objective", "grid_search_space", "successive_halving_epochs",
           "sqlite_storage", "run_worker", "run_workers", "main"]

# name -> (low, high, kind); every range is searched on a log scale
SEARCH_SPACE = {
    "lr": (1e-5, 1e-1, "float"),
    "weight_decay": (1e-6, 1e-1, "float"),
    "width": (16, 256, "int"),
    "batch_size": (32, 512, "int"),
}
MAX_EPOCHS = 9


@functools.lru_cache(maxsize=4)
def load_data(n_train=3000, n_val=1000, seed=0):
    """``(x_train, y_train), (x_val, y_val)``: a stratified subset of ``n_train + n_val``
    Fashion-MNIST *training* images, split by ``cnnbook.data.train_val_split``. The test set is
    not touched."""
    from .data import load_fashion_mnist, train_val_split
    n_train = check_positive_int("load_data", "n_train", n_train)
    n_val = check_positive_int("load_data", "n_val", n_val)
    x, y = load_fashion_mnist("train")
    if n_train + n_val >= len(y):
        raise ValueError(f"load_data: n_train + n_val = {n_train + n_val} must be below the "
                         f"{len(y)} training images; use smaller subsets.")
    _, (x_sub, y_sub) = train_val_split(x, y, n_train + n_val, seed=seed)
    return train_val_split(x_sub, y_sub, n_val, seed=seed + 1)


def make_model(width, seed=0):
    """Flatten -> Linear(784, width) -> ReLU -> Linear(width, 10), initialised from `seed`."""
    from .nn import Flatten, Linear, ReLU, Sequential
    width = check_positive_int("make_model", "width", width)
    return Sequential(Flatten(), Linear(784, width, rng=seed), ReLU(),
                      Linear(width, 10, rng=seed + 1))


def _check_params(fn: str, params) -> dict:
    missing = [k for k in SEARCH_SPACE if k not in params]
    if missing:
        raise ValueError(f"{fn}: params lack {missing}; pass a dict with the keys "
                         f"{list(SEARCH_SPACE)} (e.g. best_trial.params).")
    return {k: params[k] for k in SEARCH_SPACE}


def train_and_validate(params, data=None, epochs=MAX_EPOCHS, seed=0,
                       trial=None, return_model=False):
    """Train one configuration and return its validation accuracy after the
    last epoch.

    `params` holds ``lr``, ``weight_decay``, ``width`` and ``batch_size``;
    `data` is ``((x_train, y_train), (x_val, y_val))`` (default
    ``load_data()``). The seed fixes the initial weights and the order of the
    batches, so the same call gives the same number. With an Optuna `trial`,
    the validation accuracy is reported after every epoch and
    ``optuna.TrialPruned`` is raised when the pruner stops the trial;
    ``trial.user_attrs`` then holds ``epochs`` (epochs trained) and
    ``seconds``. ``return_model=True`` returns ``(accuracy, model)``.
    """
    from threadpoolctl import threadpool_limits

    from .optim import AdamW
    fn = "train_and_validate"
    params = _check_params(fn, params)
    epochs = check_positive_int(fn, "epochs", epochs)
    (x_tr, y_tr), (x_va, y_va) = load_data() if data is None else data
    model = make_model(int(params["width"]), seed)
    opt = AdamW(model.parameters(), lr=float(params["lr"]),
                weight_decay=float(params["weight_decay"]))
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    acc = 0.0
    # Matrices this small run fastest on one BLAS thread (several threads
    # mostly wait for each other on a busy machine); a search gets its
    # parallelism from running trials side by side.
    batch_size = int(params["batch_size"])
    with threadpool_limits(limits=1, user_api="blas"):
        for epoch in range(1, epochs + 1):
            acc = _epoch(model, opt, (x_tr, y_tr), (x_va, y_va), batch_size,
                         rng)
            if trial is not None:
                trial.set_user_attr("epochs", epoch)
                trial.set_user_attr("seconds", time.perf_counter() - t0)
                trial.report(acc, epoch)
                if trial.should_prune():
                    import optuna
                    raise optuna.TrialPruned(f"pruned after epoch {epoch} "
                                             f"at accuracy {acc:.4f}")
    return (acc, model) if return_model else acc


def _epoch(model, opt, train, val, batch_size, rng) -> float:
    """One epoch of training, then the validation accuracy."""
    from .training import evaluate, fit
    with np.errstate(all="ignore"):
        try:
            fit(model, opt, *train, epochs=1, batch_size=batch_size, seed=rng,
                progress=False)
        except FloatingPointError:
            # fit stops at a non-finite loss (a far too large rate): the trial scores 0,
            # the worst any network can do, so the search moves away from that region
            return 0.0
        return float(evaluate(model, *val)[1])


def suggest(trial, space=None):
    """The parameters of one trial, drawn by the study's sampler from `space`
    (log scales)."""
    space = SEARCH_SPACE if space is None else space
    params = {}
    for name, (low, high, kind) in space.items():
        if kind == "int":
            params[name] = trial.suggest_int(name, low, high, log=True)
        else:
            params[name] = trial.suggest_float(name, low, high, log=True)
    return params


def objective(trial, data=None, epochs=MAX_EPOCHS, seed=0, space=None):
    """Optuna objective: validation accuracy (to maximise) of the
    configuration `trial` draws."""
    params = suggest(trial, space)
    return train_and_validate(params, data=data, epochs=epochs, seed=seed,
                              trial=trial)


def grid_search_space(points_per_axis, space=None):
    """A grid for ``optuna.samplers.GridSampler``: `points_per_axis` values per hyperparameter,
    at the centres of equal intervals of the log range (integers rounded)."""
    k = check_positive_int("grid_search_space", "points_per_axis", points_per_axis)
    space = SEARCH_SPACE if space is None else space
    grid = {}
    for name, (low, high, kind) in space.items():
        logs = math.log(low) + (np.arange(k) + 0.5) / k * (math.log(high) - math.log(low))
        values = [float(v) for v in np.exp(logs)]
        grid[name] = [int(round(v)) for v in values] if kind == "int" else values
    return grid


def successive_halving_epochs(n_trials, max_resource, reduction_factor=3, min_resource=1):
    """Epochs trained by synchronous successive halving: all `n_trials` train `min_resource`
    epochs, the best ``1/reduction_factor`` of them continue to ``min_resource *
    reduction_factor`` epochs, and so on up to `max_resource` (Jamieson & Talwalkar 2016).

    >>> successive_halving_epochs(27, 9)        # 27*1 + 9*(3-1) + 3*(9-3), against 27*9 = 243
    63
    """
    fn = "successive_halving_epochs"
    n = check_positive_int(fn, "n_trials", n_trials)
    top = check_positive_int(fn, "max_resource", max_resource)
    eta = check_positive_int(fn, "reduction_factor", reduction_factor)
    r = check_positive_int(fn, "min_resource", min_resource)
    if eta < 2:
        raise ValueError(f"{fn}: reduction_factor must be at least 2, got {eta}; use 3.")
    total, trained = 0, 0
    while n >= 1:
        r = min(r, top)
        total += n * (r - trained)
        if r == top:
            break
        trained, n, r = r, n // eta, r * eta
    return total


def sqlite_storage(path, timeout=30):
    """An ``optuna.storages.RDBStorage`` on the SQLite file `path`; `timeout` seconds of waiting
    for a lock, so that several processes may write to the same file."""
    import optuna
    return optuna.storages.RDBStorage(f"sqlite:///{Path(path)}",
                                      engine_kwargs={"connect_args": {"timeout": timeout}})


def run_worker(storage_url, study_name, trials, worker=0, epochs=3, seed=0,
               timeout=30):
    """One worker: load the study `study_name` from `storage_url` and run
    `trials` trials of `epochs` epochs with a TPE sampler seeded with
    ``seed + worker``, each tagged with ``user_attrs["worker"]``. Several
    workers may run at once on the same storage."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sqlite = storage_url.startswith("sqlite")
    engine_kwargs = {"connect_args": {"timeout": timeout}} if sqlite else None
    storage = optuna.storages.RDBStorage(storage_url,
                                         engine_kwargs=engine_kwargs)
    sampler = optuna.samplers.TPESampler(seed=seed + worker,
                                         n_startup_trials=4)
    study = optuna.load_study(study_name=study_name, storage=storage,
                              sampler=sampler)

    def tagged(trial):
        trial.set_user_attr("worker", worker)
        return objective(trial, epochs=epochs, seed=seed)

    study.optimize(tagged, n_trials=trials)


def run_workers(storage_url, study_name, n_workers=2, trials_per_worker=4, epochs=3, seed=0,
                timeout=600):
    """Run `n_workers` processes ``python -m cnnbook.search`` at once on the study `study_name`
    (created if missing, direction "maximize") in `storage_url`; each runs `trials_per_worker`
    trials and tags them with ``user_attrs["worker"]``. Returns the loaded study."""
    import optuna
    fn = "run_workers"
    n_workers = check_positive_int(fn, "n_workers", n_workers)
    trials_per_worker = check_positive_int(fn, "trials_per_worker", trials_per_worker)
    engine = {"connect_args": {"timeout": 30}} if storage_url.startswith("sqlite") else None
    storage = optuna.storages.RDBStorage(storage_url, engine_kwargs=engine)
    optuna.create_study(storage=storage, study_name=study_name, direction="maximize",
                        load_if_exists=True)
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)          # the folder holding cnnbook/
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in [env.get("PYTHONPATH")] if p])
    procs = [subprocess.Popen([sys.executable, "-m", "cnnbook.search", "--storage", storage_url,
                               "--study-name", study_name, "--trials", str(trials_per_worker),
                               "--worker", str(w), "--epochs", str(epochs), "--seed", str(seed)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for w in range(n_workers)]
    failures = []
    for w, p in enumerate(procs):
        out, err = p.communicate(timeout=timeout)
        if p.returncode != 0:
            failures.append(f"worker {w} exited with status {p.returncode}:\n{err[-2000:]}")
    if failures:
        raise RuntimeError(f"{fn}: " + "\n".join(failures))
    return optuna.load_study(study_name=study_name, storage=storage)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m cnnbook.search",
                                     description="Run one worker of an Optuna study.")
    parser.add_argument("--storage", required=True, help="e.g. sqlite:///study.db or a "
                        "postgresql:// URL")
    parser.add_argument("--study-name", required=True)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--worker", type=int, default=0, help="tag of this worker (and seed offset)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    run_worker(args.storage, args.study_name, args.trials, args.worker, args.epochs, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
