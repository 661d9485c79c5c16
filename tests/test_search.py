"""cnnbook.search: the objective of the search chapter, its grid, the successive-halving count and
the worker processes that share one SQLite study."""
import numpy as np
import pytest

optuna = pytest.importorskip("optuna")

from cnnbook import search  # noqa: E402

PARAMS = {"lr": 3e-3, "weight_decay": 1e-4, "width": 32, "batch_size": 64}


@pytest.fixture(scope="module")
def small():
    return search.load_data(n_train=300, n_val=100, seed=0)


def test_load_data_is_a_stratified_split_of_the_training_images(small):
    (x_tr, y_tr), (x_va, y_va) = small
    assert x_tr.shape == (300, 1, 28, 28) and x_va.shape == (100, 1, 28, 28)
    assert (np.bincount(y_va, minlength=10) == 10).all() and (np.bincount(y_tr, minlength=10) == 30).all()


def test_objective_returns_an_accuracy_and_is_deterministic(small):
    values = [search.objective(optuna.trial.FixedTrial(PARAMS), data=small, epochs=2, seed=3)
              for _ in range(2)]
    assert isinstance(values[0], float) and 0.0 <= values[0] <= 1.0
    assert values[0] == values[1]
    assert values[0] > 0.3            # 2 epochs on 300 images beat the 10 % of guessing
    assert search.train_and_validate(PARAMS, small, epochs=2, seed=3) == values[0]


def test_a_diverging_rate_still_gives_an_accuracy(small):
    acc = search.train_and_validate({**PARAMS, "lr": 50.0}, small, epochs=1)
    assert 0.0 <= acc <= 1.0


def test_trials_report_every_epoch_and_stop_when_pruned(small):
    class PruneAtOnce(optuna.pruners.BasePruner):
        def prune(self, study, trial):
            return True

    study = optuna.create_study(direction="maximize", pruner=PruneAtOnce(),
                                sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: search.objective(t, data=small, epochs=3), n_trials=2)
    assert all(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    assert [t.user_attrs["epochs"] for t in study.trials] == [1, 1]
    assert all(list(t.intermediate_values) == [1] for t in study.trials)

    full = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner(),
                               sampler=optuna.samplers.RandomSampler(seed=0))
    full.optimize(lambda t: search.objective(t, data=small, epochs=3), n_trials=1)
    t = full.trials[0]
    assert t.user_attrs["epochs"] == 3 and sorted(t.intermediate_values) == [1, 2, 3]
    assert t.value == t.intermediate_values[3]
    for name, (low, high, _) in search.SEARCH_SPACE.items():
        assert low <= t.params[name] <= high


def test_grid_search_space_centres_of_log_intervals():
    grid = search.grid_search_space(3)
    assert np.allclose(grid["lr"], [10 ** (-5 + 2 / 3), 1e-3, 10 ** (-1 - 2 / 3)])
    assert grid["width"] == [int(round(16 * 16 ** (k / 6))) for k in (1, 3, 5)]
    assert all(len(v) == 3 for v in grid.values())
    sampler = optuna.samplers.GridSampler(search.grid_search_space(2), seed=0)
    study = optuna.create_study(sampler=sampler)
    seen = set()

    def record(trial):
        seen.add(tuple(sorted(search.suggest(trial).items())))
        return 0.0

    study.optimize(record, n_trials=20)          # the sampler stops the study when the grid is done
    assert len(seen) == len(study.trials) == 16


@pytest.mark.parametrize("args, epochs", [((27, 9), 27 + 9 * 2 + 3 * 6), ((9, 9), 9 + 3 * 2 + 1 * 6),
                                          ((5, 1), 5), ((16, 8, 2), 16 + 8 + 4 * 2 + 2 * 4)])
def test_successive_halving_epochs(args, epochs):
    assert search.successive_halving_epochs(*args) == epochs


def test_bad_input_names_the_function():
    with pytest.raises(ValueError, match="make_model: width"):
        search.make_model(0)
    with pytest.raises(ValueError, match=r"train_and_validate: params lack \['batch_size'\]"):
        search.train_and_validate({k: v for k, v in PARAMS.items() if k != "batch_size"})
    with pytest.raises(ValueError, match="load_data: n_train"):
        search.load_data(n_train=60000)
    with pytest.raises(ValueError, match="successive_halving_epochs: reduction_factor"):
        search.successive_halving_epochs(9, 9, reduction_factor=1)


def test_two_workers_write_into_one_sqlite_study(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = search.run_workers(url, "test", n_workers=2, trials_per_worker=2, epochs=1)
    trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(trials) == 4
    assert sorted(t.user_attrs["worker"] for t in trials) == [0, 0, 1, 1]
    assert all(0.0 <= t.value <= 1.0 and t.user_attrs["epochs"] == 1 for t in trials)
    # the study lives in the file: a fresh storage object sees the same trials
    again = optuna.load_study(study_name="test", storage=search.sqlite_storage(tmp_path / "study.db"))
    assert len(again.trials) == 4
