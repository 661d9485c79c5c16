"""The library's layering: the operations (the NumPy function pairs) depend on NumPy and on each
other only. Layers, figures, widgets and PyTorch sit above them and are never imported by them,
so a reader can study ``conv.py`` or ``pool.py`` without anything else."""
import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "cnnbook"
OPS = ["_checks", "window", "fast", "activations", "conv", "linear", "losses", "norm", "pool",
       "functional", "spatial"]
ABOVE = {"nn", "plot", "widgets", "training", "models", "optim", "torchcompare", "verify", "torch",
         "matplotlib", "ipywidgets"}


def imported_names(path: Path) -> set:
    """Every module an ``import`` or ``from ... import`` in the file names (at any depth),
    reduced to its first component (relative imports inside cnnbook by their own name)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level and node.module is None:            # from . import conv
                names |= {a.name for a in node.names}
            elif node.module:
                names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", OPS)
def test_operations_import_nothing_above_them(module):
    bad = imported_names(PKG / f"{module}.py") & ABOVE
    assert not bad, f"cnnbook/{module}.py imports {sorted(bad)}; the operations must not depend on them"


def test_the_check_sees_a_violation(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("import numpy as np\ndef f():\n    from . import nn\n    import torch.nn\n")
    assert imported_names(f) & ABOVE == {"nn", "torch"}
