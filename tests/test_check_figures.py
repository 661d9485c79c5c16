"""The build's figure check (scripts/check_figures.py): which cells draw, and that a kernel with
MPLBACKEND set in its environment (the old build) fails the check while a clean one passes."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import check_figures as cf  # noqa: E402


def _nb(*cells):
    return {"cells": [{"cell_type": "code", "source": src, "outputs": outs, "metadata": {}}
                      for src, outs in cells], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


PNG_OUT = {"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}}


@pytest.mark.parametrize("code, draws", [
    ("fig, ax = plt.subplots()\nax.plot([1, 2])\nplt.show()", True),
    ("plt.imshow(a)", True),
    ("cb.plot.show_matrix(a)", True),
    ("for k in range(3):\n    plt.figure()", True),
    ("def render(a):\n    fig, ax = plt.subplots()\n    return fig", False),   # defines only
    ("x = np.zeros(3)\nprint(x)", False),
    ("%matplotlib inline\nplt.show()", True),                             # magics are skipped
])
def test_cell_draws(code, draws):
    assert cf.cell_draws(code) is draws


def test_explorer_cells_are_counted_by_their_frames():
    code = "def render(a):\n    return plt.figure()\ncb.widgets.explorer(render, {'a': [1, 2]})"
    html = {"output_type": "display_data",
            "data": {"text/html": '<div class="cnnbook-explorer"><img src="a"><img src="b"></div>'}}
    c = cf.count(_nb((code, [html])))
    assert (c.explorers, c.frames, c.drawing_cells, c.missing) == (1, 2, 0, [])
    assert cf.count(_nb((code, []))).missing == [(0, "def render(a):")]


def test_missing_image_is_reported(tmp_path, capsys):
    nb = _nb(("plt.plot([1, 2])\nplt.show()", []), ("plt.plot([3])\nplt.show()", [PNG_OUT]))
    c = cf.count(nb)
    assert (c.drawing_cells, c.images, c.missing) == (2, 1, [(0, "plt.plot([1, 2])")])
    executed = tmp_path / "jupyter_execute" / "book"
    executed.mkdir(parents=True)
    (executed / "ch.ipynb").write_text(json.dumps(nb))
    assert cf.main([str(tmp_path), str(tmp_path / "book")]) == 1
    assert "cell 0 draws but shows no image" in capsys.readouterr().err
    (executed / "ch.ipynb").write_text(json.dumps(_nb(("plt.plot([3])\nplt.show()", [PNG_OUT]))))
    assert cf.main([str(tmp_path), str(tmp_path / "book")]) == 0
    assert cf.main([str(tmp_path / "empty")]) == 1          # no executed notebook at all


def _execute(env_extra: dict) -> dict:
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\n"
                                          "plt.plot([1, 3, 2])\nplt.show()")]
    saved = {k: os.environ.get(k) for k in ("MPLBACKEND",)}
    os.environ.pop("MPLBACKEND", None)
    os.environ.update(env_extra)
    try:
        nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return json.loads(nbformat.writes(nb))


def test_a_kernel_with_mplbackend_set_fails_the_check():
    """The old build exported MPLBACKEND=Agg, which the kernels inherited: plt.show() then
    produced nothing. The check catches exactly that, and passes once it is unset."""
    bad = cf.count(_execute({"MPLBACKEND": "Agg"}))
    good = cf.count(_execute({}))
    assert bad.drawing_cells == 1 and bad.images == 0 and len(bad.missing) == 1
    assert good.drawing_cells == 1 and good.images == 1 and good.missing == []
