"""cnnbook — every CNN layer in NumPy, forward and backward, verified against PyTorch.

The helper package of the cnnbook textbook. Chapters start with ``import cnnbook as cb``;
submodules load on first use, so the core needs only NumPy:

- ``cb.functional`` (also ``cb.F``): the layer function pairs (``conv2d``, ``conv2d_forward``,
  ``conv2d_backward``, ...), NCHW and PyTorch semantics.
- ``cb.nn``, ``cb.optim``, ``cb.init``: layer classes, ``LeNet5``, optimizers and schedules,
  weight initialisation.
- ``cb.models``: LeNet-5, AlexNet, ZF Net, VGG, NiN, GoogLeNet, ResNet, DenseNet in NumPy, with
  torchvision's state_dict names.
- ``cb.arithmetic``: output sizes, receptive fields, parameter and FLOP counts.
- ``cb.data``: Fashion-MNIST, MNIST, scikit-learn digits, sample photos, your own image folders.
- ``cb.search``: the hyperparameter-search objective and workers (Optuna).
- ``cb.distributed``: data-parallel training of a model's PyTorch twin with
  ``DistributedDataParallel`` (``python -m cnnbook.distributed --world-size 2 --check``).
- ``cb.gradcheck``, ``cb.verify``: finite differences, and the comparison with PyTorch.
- ``cb.explain``, ``cb.attacks``: Grad-CAM and CAM; FGSM and PGD adversarial examples.
- ``cb.widgets``, ``cb.plot``, ``cb.exercises``: the book's explorers, figures and self-checks.
- ``cb.live``: explorers that compute in the page (a small JavaScript engine, checked against
  the library), in the static book and in JupyterLab alike.
- ``cb.manual_seed(n)``: reseeds the generator that layers built without ``rng=`` draw from.
- ``cb.show_source(fn)``: the library's own code, shown as a highlighted code block.
- ``cb.table(rows, headers)``: a table shown as HTML in the page, as aligned text in a terminal.
"""
import importlib

from . import fast as _fast

__version__ = "0.1.0"

_fast.keep_freed_memory()      # reuse freed arrays' memory: fewer page faults (see cnnbook.fast)

_SUBMODULES = {
    "functional", "nn", "optim", "init", "arithmetic", "data", "gradcheck", "verify", "torchcompare",
    "widgets", "plot", "exercises", "training", "conv", "pool", "activations", "linear", "losses", "norm",
    "models", "search", "distributed", "live", "window", "examples", "display",
    "fast",
    "module", "twin",
    "scenes", "metrics", "boxes", "detection",
    "explain", "attacks",
    "quant", "prune", "amp", "distill",
}


def __getattr__(name):
    if name == "F":
        return importlib.import_module(".functional", __name__)
    if name == "table":
        return importlib.import_module(".display", __name__).table
    if name in _SUBMODULES:
        return importlib.import_module("." + name, __name__)
    raise AttributeError(f"module 'cnnbook' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _SUBMODULES | {"F"})


def manual_seed(seed):
    """Reseed the library's random generator from `seed` (an int >= 0): every
    layer, initializer, augmentation and dropout built with ``rng=None`` draws from it, as
    PyTorch's modules draw from ``torch.manual_seed``. The generator is reseeded in place, so a
    Dropout or an augmentation built before the call draws the new sequence too. Chapters call
    ``cb.manual_seed(0)`` once.

    >>> manual_seed(3); a = nn.Linear(4, 2).weight.data
    >>> manual_seed(3); b = nn.Linear(4, 2).weight.data
    >>> bool((a == b).all())
    True
    """
    from ._checks import manual_seed as _seed
    _seed(seed)                          # returns nothing: a chapter's cell shows no output


def show_source(*objs, start=None, stop=None):
    """The source of the library functions or classes `objs`, as a Python code block that a
    notebook (and the rendered book) shows highlighted, read from the installed package.

    `start` / `stop`: show only from the first line containing `start` up to the line before the
    first line (after it) containing `stop`; the excerpt is dedented.

    >>> show_source(show_source).data.splitlines()[:2]
    ['```python', 'def show_source(*objs, start=None, stop=None):']
    """
    import inspect
    import textwrap
    from IPython.display import Markdown
    if not objs:
        raise TypeError("show_source: give at least one function or class, e.g. "
                        "cb.show_source(cb.conv.conv2d_naive).")
    blocks = []
    for obj in objs:
        lines = inspect.getsource(obj).splitlines()
        if start is not None:
            first = next((i for i, line in enumerate(lines) if start in line), None)
            if first is None:
                raise ValueError(f"show_source: no line of {obj.__qualname__} contains "
                                 f"start={start!r}; pass a fragment of the first line to show.")
            lines = lines[first:]
        if stop is not None:
            end = next((i for i, line in enumerate(lines) if i and stop in line), None)
            if end is None:
                raise ValueError(f"show_source: no line of {obj.__qualname__} after the start "
                                 f"contains stop={stop!r}.")
            lines = lines[:end]
        blocks.append(textwrap.dedent("\n".join(lines)))
    return Markdown("```python\n" + "\n\n".join(blocks) + "\n```")



def _install_figure_style():
    """In a Jupyter kernel, every figure is shown the book's way (``cnnbook.figstyle``)."""
    import sys
    if "ipykernel" in sys.modules:
        from .figstyle import install
        install()


_install_figure_style()
