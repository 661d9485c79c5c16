"""Shared test helpers: the device fixture and the single `assert_matches_torch`.

Nothing here needs torch: the suite collects and runs without it. A test file that uses torch
starts with ``torch = pytest.importorskip("torch")``; the "cuda" device skips without torch or
without a CUDA GPU, and `assert_matches_torch` imports torch only when it is called.
"""
import numpy as np
import pytest


@pytest.fixture(params=["cpu", "cuda"])
def device(request):
    """The devices to compare on: "cpu" always, "cuda" when torch sees a CUDA GPU."""
    if request.param == "cuda":
        torch = pytest.importorskip("torch")
        if not torch.cuda.is_available():
            pytest.skip("no CUDA GPU present")
    return request.param


def assert_matches_torch(forward, backward, torch_fn, arrays, grad_of=None, names=None,
                         device="cpu", dtype=np.float64, seed=0, tol=None):
    """Compare our (forward, backward) pair with `torch_fn` under a random upstream gradient.

    Float64 on the CPU; on CUDA float64 too (TF32 is disabled either way). Fails with the
    largest error of the output and of each gradient.
    """
    pytest.importorskip("torch")
    from cnnbook.torchcompare import compare_with_torch
    c = compare_with_torch(forward, backward, torch_fn, arrays, grad_of=grad_of, names=names,
                           device=device, dtype=dtype, seed=seed, tol=tol)
    detail = ", ".join(f"{n}={e:.2e}" for n, e in zip(c.grad_names, c.grad_errs))
    assert c.passed, f"out={c.out_err:.2e}, {detail} (tol {c.tol:.0e})"
    return c


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# ------------------------------------------------------------------ browser and JupyterLab
# Shared by tests/test_browser.py, tests/test_live.py and tests/test_lab.py: the one check that
# Debian's Chromium and playwright are there, and the one way to start a JupyterLab server.
CHROMIUM = "/usr/bin/chromium"


def browser_skip_reason(*, lab: bool = False) -> str | None:
    """Why the Chromium tests cannot run here (None when they can): Debian's Chromium and pip's
    playwright (its own browser downloads are never used), and JupyterLab when `lab`."""
    import os
    from pathlib import Path
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"{CHROMIUM} not found (apt-get install chromium)"
    modules = ["playwright.sync_api"] + (["jupyterlab"] if lab else [])
    for name in modules:
        try:
            __import__(name)
        except ImportError:
            return f"{name.split('.')[0]} is not installed (pip install {name.split('.')[0]})"
    return None


def skip_unless_browser(reason: str | None, what: str = "the browser tests") -> None:
    """Skip with `reason`; with CNNBOOK_REQUIRE_BROWSER=1 (as in `make test`) fail instead."""
    import os
    if reason and os.environ.get("CNNBOOK_REQUIRE_BROWSER") == "1":
        pytest.fail(f"CNNBOOK_REQUIRE_BROWSER=1 but {what} cannot run: {reason}")
    if reason:
        pytest.skip(reason)


def start_jupyterlab(root_dir, work_dir, settings: dict | None = None, pythonpath=None):
    """A JupyterLab server on 127.0.0.1 serving `root_dir`, started as a reader starts it but
    without CNNBOOK_STATIC or MPLBACKEND; its config, settings, workspaces and log live under
    `work_dir`. `settings` maps "@jupyterlab/<plugin>/<name>" to a settings dict. Returns
    (url, stop); `stop()` ends the server. Fails the test, with the log, if it exits."""
    import json
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    user_settings = work_dir / "settings"
    for key, value in (settings or {}).items():
        f = user_settings / f"{key}.jupyterlab-settings"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(value))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("CNNBOOK_STATIC", "MPLBACKEND")}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath)] + ([env["PYTHONPATH"]]
                                                                  if env.get("PYTHONPATH") else []))
    env["JUPYTER_CONFIG_DIR"] = str(work_dir / "jupyter-config")
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
           "--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=", "--allow-root",
           "--LabApp.extension_manager=readonly", "--LabApp.news_url=",
           "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={root_dir}",
           "--LabApp.expose_app_in_browser=True", f"--LabApp.user_settings_dir={user_settings}",
           f"--LabApp.workspaces_dir={work_dir / 'workspaces'}"]
    log = open(work_dir / "lab.log", "w+")
    proc = subprocess.Popen(cmd, cwd=root_dir, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"

    def stop():
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()

    for _ in range(240):
        try:
            urllib.request.urlopen(url + "api/status", timeout=2)
            return url, stop
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.5)
    log.seek(0)
    text = log.read()[-2000:]
    stop()
    pytest.fail(f"JupyterLab did not start: {text}")


def twin_step_errors(model, twin, x, train, rel, seed=1, prepare=None):
    """One forward and backward pass of a NumPy `model` and its PyTorch `twin` from the same
    float64 weights, in training (`train=True`) or eval mode, with the same random upstream
    gradient: ``rel(ours, theirs)`` of the logits, of the input gradient and of every parameter
    gradient, keyed ``"logits"``, ``"dx"`` and ``"d" + name``. The twin is returned beside
    them, for checks of its buffers. `prepare(model, twin)` runs after the forward pass of
    `model`, before the twin's (to hand it our random decisions).

    The model must already hold float64 weights (``model.astype(np.float64)``)."""
    import torch
    twin = twin.double()
    twin.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v))
                          for k, v in model.state_dict().items()})
    model.train(train)
    twin.train(train)
    model.zero_grad()
    out = model(x)
    if prepare is not None:
        prepare(model, twin)
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    dx = model.backward(dout)
    xt = torch.from_numpy(x).requires_grad_(True)
    out_t = twin(xt)
    out_t.backward(torch.from_numpy(dout))
    errs = {"logits": rel(out, out_t.detach().numpy()), "dx": rel(dx, xt.grad.numpy())}
    theirs = dict(twin.named_parameters())
    for name, p in model.named_parameters():
        errs["d" + name] = rel(p.grad, theirs[name].grad.numpy())
    return errs, twin


def randomize_batch_norms(model, rng):
    """Every BatchNorm2d's scale, shift and running statistics moved away from 1 and 0, so that
    a comparison exercises every path through them."""
    from cnnbook import nn
    for _, m in model.named_modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.weight.data = rng.uniform(0.5, 1.5, c)
            m.bias.data = rng.normal(0, 0.2, c)
            m.running_mean = rng.normal(0, 0.2, c)
            m.running_var = rng.uniform(0.5, 2.0, c)
    return model
