"""Every chapter's self-check accepts its computed solution and rejects wrong answers."""
import numpy as np
import pytest

import cnnbook as cb

KEYS = [k for k, _ in cb.exercises.list_exercises()]


def _perturb(ans):
    if isinstance(ans, str):
        return ans + "?"
    if isinstance(ans, (bool, np.bool_)):
        return not ans
    if isinstance(ans, (tuple, list)) and any(isinstance(a, str) for a in ans):
        return tuple(ans) + ("?",)
    a = np.asarray(ans, dtype=np.float64)
    return a + 1.0 + np.abs(a)


def test_exercises_registered():
    assert len(KEYS) >= 3 and len(set(KEYS)) == len(KEYS)


@pytest.mark.parametrize("key", KEYS)
def test_solution_passes_and_wrong_answer_fails(key, capsys):
    try:
        sol = cb.exercises.solution(key)
    except ModuleNotFoundError as e:                 # a few solutions call PyTorch
        if e.name != "torch":
            raise
        pytest.skip(f"{key}: the solution needs torch, which is not installed")
    assert cb.exercises.check(key, sol)
    assert "Correct" in capsys.readouterr().out
    assert not cb.exercises.check(key, _perturb(sol), quiet=True)
    assert not cb.exercises.check(key, None, quiet=True)


def test_unknown_key():
    with pytest.raises(ValueError, match="no exercise named"):
        cb.exercises.check("no-such-exercise", 1)
