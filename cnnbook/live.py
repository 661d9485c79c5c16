"""Live explorers: figures that compute in the page, in JavaScript, from cnnbook's own numbers.

An explorer from `cnnbook.widgets` shows frames drawn in advance; the explorers here ship the
*inputs* instead (a photo, a network's ``state_dict``) together with a small forward-pass engine,
``cnnbook/static/cnnbook_live.js``, and compute whatever the reader asks for::

    cb.live.convolution_explorer()                 # kernel, stride, padding, dilation on a photo
    cb.live.drawing_explorer(model, classes, x)    # draw an item, a trained LeNet-5 classifies it
    cb.live.receptive_field_explorer(layers)       # click a unit, see its (effective) field

Each returns an ``IPython.display.HTML`` object: one piece of HTML that carries its data as JSON
(arrays as base64 little-endian float32, `encode_array`) and the engine inline, so it works alone
in a trusted notebook, where JupyterLab runs the scripts of an HTML output. The rendered book
does not repeat them in every page: when the book is built, `externalize` (called by the book's
Sphinx extension, scripts/cnnbook_sphinx.py) swaps the inline engine for a few lines that load
``_static/cnnbook_live.js`` once the explorer nears the screen, and moves the large arrays (a
network's weights) into one small data script (`data_script`) that the page adds then, so a page
with an explorer far down weighs on a cold load little more than its text. Both load by
``<script src>``, which browsers allow from a page opened from disk (``file://``), where a
``fetch`` of a file is refused: the explorers work from a copy of the book on disk, too.
Nothing comes from another site.
The first copy of the engine on a page defines ``window.cnnbookLive``;
its functions (``conv2d``, ``maxPool2d``, ``linear``, ``forward``, ``run`` ...) are the test hook
that tests/test_live.py compares with `cnnbook.functional` in Chromium.

The engine runs a *spec*, a list of layers exported from a `cnnbook.nn.Sequential` by
`model_spec`, against that model's ``state_dict()``: Conv2d (stride, padding, dilation, groups),
ReLU, Tanh, Sigmoid, MaxPool2d, AvgPool2d, Flatten, Linear, and softmax.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from pathlib import Path

import numpy as np

__all__ = ["config_of", "encode_array", "encode_state_dict", "model_spec", "engine_js", "live_html",
           "externalize", "convolution_explorer", "drawing_explorer", "receptive_field_explorer",
           "data_script", "KERNEL_PRESETS", "LOADER_JS", "BINARY_MIN_BYTES"]

ENGINE = Path(__file__).resolve().parent / "static" / "cnnbook_live.js"

# 3x3 kernels the convolution explorer offers (cross-correlation, as conv2d computes).
KERNEL_PRESETS = {
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "box blur": [[1 / 9] * 3] * 3,
    "Gaussian blur": [[1 / 16, 2 / 16, 1 / 16], [2 / 16, 4 / 16, 2 / 16], [1 / 16, 2 / 16, 1 / 16]],
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "outline (Laplacian)": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    "Sobel, vertical edges": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "Sobel, horizontal edges": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
}



# Arrays of at least this many bytes leave the page for the binary file (`externalize`).
BINARY_MIN_BYTES = 1024

# What the rendered book carries instead of the engine: when the explorer comes within a screen
# of the viewport (at once where IntersectionObserver is missing), add the engine by <script src>
# (once per page) and queue this explorer for it; the engine mounts every queued explorer.
LOADER_JS = """(function (root) {
  var w = window, src = root.getAttribute("data-engine");
  function go() {
    if (w.cnnbookLive) { w.cnnbookLive.mount(root); return; }
    (w.cnnbookLivePending = w.cnnbookLivePending || []).push(root);
    if (w.cnnbookLiveLoading) return;
    w.cnnbookLiveLoading = true;
    var s = document.createElement("script");
    s.src = src;
    s.onerror = function () {
      (w.cnnbookLivePending || []).forEach(function (r) {
        var f = r.querySelector(".cl-fallback");
        if (f) f.textContent = "This explorer could not start: " + src + " did not load.";
      });
    };
    document.head.appendChild(s);
  }
  if (!("IntersectionObserver" in w)) { go(); return; }
  var io = new IntersectionObserver(function (entries) {
    if (entries.some(function (e) { return e.isIntersecting; })) { io.disconnect(); go(); }
  }, { rootMargin: "100% 0px" });
  io.observe(root);
})(document.currentScript.parentNode);"""


def engine_js() -> str:
    """The text of the engine, ``cnnbook/static/cnnbook_live.js``."""
    if not ENGINE.is_file():
        raise FileNotFoundError(f"engine_js: {ENGINE} is missing; install cnnbook with its package "
                                f"data (static/*.js) or run it from a checkout of the book.")
    return ENGINE.read_text(encoding="utf-8")


def encode_array(a, dtype: str = "float32") -> dict:
    """``{"shape": [...], "data": base64}`` of `a` as little-endian float32 (``dtype="float32"``)
    or as uint8 codes of values in [0, 1] (``dtype="uint8"``: ``round(255 * a)``, 4x smaller)."""
    a = np.asarray(a)
    if not np.issubdtype(a.dtype, np.number) or not np.all(np.isfinite(a)):
        raise ValueError(f"encode_array: expected a finite numeric array, got dtype {a.dtype} with "
                         f"{int(np.size(a) - np.isfinite(a).sum()) if np.issubdtype(a.dtype, np.number) else 'non-numeric'} "
                         f"non-finite values; replace them (np.nan_to_num) before shipping.")
    if dtype == "float32":
        raw = np.ascontiguousarray(a, dtype="<f4").tobytes()
        return {"shape": list(a.shape), "data": base64.b64encode(raw).decode("ascii")}
    if dtype == "uint8":
        if a.size and (a.min() < 0 or a.max() > 1):
            raise ValueError(f"encode_array: dtype='uint8' stores values in [0, 1], got the range "
                             f"[{a.min():.3g}, {a.max():.3g}]; rescale first or use dtype='float32'.")
        raw = np.round(a * 255).astype(np.uint8).tobytes()
        return {"shape": list(a.shape), "dtype": "uint8", "data": base64.b64encode(raw).decode("ascii")}
    raise ValueError(f"encode_array: dtype must be 'float32' or 'uint8', got {dtype!r}.")


def encode_state_dict(state: dict) -> dict:
    """A ``state_dict()`` (name -> array) as JSON-ready ``{name: encode_array(array)}``."""
    if not isinstance(state, dict):
        raise TypeError(f"encode_state_dict: expected a dict of arrays (model.state_dict()), got "
                        f"{type(state).__name__}.")
    return {str(k): encode_array(v) for k, v in state.items()}


def model_spec(model) -> list:
    """The layers of a `cnnbook.nn.Sequential` as the engine's spec: one dict per layer with its
    ``type``, hyper-parameters, a display ``name`` and, for layers with weights, the ``key``
    prefix of its entries in ``model.state_dict()`` (so ``key + ".weight"``)."""
    from . import nn
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model_spec: expected a cnnbook.nn.Sequential (e.g. cb.nn.LeNet5()), got "
                        f"{type(model).__name__}.")
    names = model._names or [str(i) for i in range(len(model.layers))]
    counts: dict = {}
    spec = []
    n_linear = sum(isinstance(layer, nn.Linear) for layer in model.layers)

    def label(kind):
        counts[kind] = counts.get(kind, 0) + 1
        return f"{kind}{counts[kind]}"

    for key, layer in zip(names, model.layers):
        if isinstance(layer, nn.Conv2d):
            kh, kw = layer.kernel_size
            spec.append({"type": "conv2d", "key": key, "stride": list(layer.stride),
                         "padding": list(layer.padding), "dilation": list(layer.dilation),
                         "groups": layer.groups,
                         "name": f"{label('conv')} ({layer.out_channels}@{kh}×{kw})"})
        elif isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
            kind = "max" if isinstance(layer, nn.MaxPool2d) else "avg"
            if layer.ceil_mode:
                raise ValueError(f"model_spec: {type(layer).__name__} with ceil_mode=True is not "
                                 f"supported by the page engine; use ceil_mode=False.")
            entry = {"type": f"{kind}_pool2d", "kernel_size": list(layer.kernel_size),
                     "stride": list(layer.stride), "padding": list(layer.padding),
                     "name": label(f"{kind} pool")}
            if kind == "max":
                entry["dilation"] = list(layer.dilation)
            else:
                entry["count_include_pad"] = layer.count_include_pad
            spec.append(entry)
        elif isinstance(layer, nn.Linear):
            last = counts.get("fc", 0) + 1 == n_linear
            name = label("fc")
            spec.append({"type": "linear", "key": key,
                         "name": f"{name} → {layer.weight.data.shape[0]}" + (" (logits)" if last else "")})
        elif isinstance(layer, (nn.ReLU, nn.Tanh, nn.Sigmoid)):
            spec.append({"type": type(layer).__name__.lower(), "name": type(layer).__name__})
        elif isinstance(layer, nn.Flatten):
            if layer.start_dim != 1:
                raise ValueError(f"model_spec: Flatten(start_dim={layer.start_dim}) is not supported; "
                                 f"the page engine flattens from dimension 1.")
            spec.append({"type": "flatten", "name": "flatten"})
        else:
            raise TypeError(f"model_spec: layer {key} is a {type(layer).__name__}, which the page "
                            f"engine does not run; it runs Conv2d, MaxPool2d, AvgPool2d, Linear, "
                            f"ReLU, Tanh, Sigmoid and Flatten.")
    return spec


def _json_for_script(obj) -> str:
    # JSON inside <script>: "</" would end the element, so it is escaped.
    return json.dumps(obj, separators=(",", ":")).replace("</", "<\\/")


def live_html(kind: str, config: dict, title: str) -> str:
    """The HTML of one live explorer: a titled group holding its config as JSON and the engine."""
    if kind not in ("convolution", "drawing", "receptive_field"):
        raise ValueError(f"live_html: kind must be 'convolution', 'drawing' or 'receptive_field', "
                         f"got {kind!r}.")
    data = _json_for_script(config)
    ident = hashlib.sha1((kind + data).encode()).hexdigest()[:10]
    engine = engine_js().replace("</", "<\\/")
    return (f'<div class="cnnbook-live" id="cnnbook-live-{ident}" data-kind="{kind}" role="group" '
            f'aria-label="{html.escape(title)}" style="margin:0.5rem 0 1rem;max-width:688px">'
            f'<div class="cl-title" style="font-weight:600">{html.escape(title)}</div>'
            f'<div class="cl-fallback">This explorer computes in the page: it needs JavaScript '
            f'(in Jupyter, a trusted notebook; run the cell) and starts when you scroll to it.</div>'
            f'<script type="application/json">{data}</script>'
            f'<script class="cnnbook-live-engine">{engine}</script></div>')


_ENGINE_TAG = re.compile(r'<script class="cnnbook-live-engine">.*?</script>', re.S)
_CONFIG_TAG = re.compile(r'(<script type="application/json">)(.*?)(</script>)', re.S)


def data_script(data: bytes, name: str) -> str:
    """The text of the data script that carries an explorer's large arrays in the rendered book:
    `data` as base64 in ``window.cnnbookLiveData[name]``, where `name` is the script's file name
    without ``.js`` (the engine reads the entry named after the file it added)."""
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"data_script: data must be bytes, got {type(data).__name__}.")
    if not re.fullmatch(r"[A-Za-z0-9_-]+", str(name)):
        raise ValueError(f"data_script: name must be letters, digits, '_' or '-' (the file name "
                         f"without .js), got {name!r}.")
    return ("(window.cnnbookLiveData = window.cnnbookLiveData || {})"
            f'["{name}"] = "{base64.b64encode(bytes(data)).decode("ascii")}";\n')


def externalize(markup: str, engine_src: str, save, min_bytes: int = BINARY_MIN_BYTES) -> str:
    """The HTML of a live explorer (`live_html`) as the rendered book ships it: the inline engine
    replaced by `LOADER_JS`, which loads `engine_src` (a URL relative to the page) when the
    explorer nears the screen, and every encoded array of at least `min_bytes` bytes moved into
    one data file. ``save(data: bytes) -> str`` stores those bytes and returns the file's URL
    relative to the page: a ``NAME.js`` written by `data_script` (the book's form, which a page
    opened from disk can load), or any other file, which the engine fetches as raw bytes. The
    config keeps each array's shape and dtype with ``"bin": [offset, length]`` and names the file
    as ``"binary"``. Markup without a live explorer is returned unchanged."""
    if 'class="cnnbook-live"' not in markup or not _ENGINE_TAG.search(markup):
        return markup
    if not isinstance(engine_src, str) or not engine_src or '"' in engine_src:
        raise ValueError(f"externalize: engine_src must be a URL without quotes, got {engine_src!r}.")
    m = _CONFIG_TAG.search(markup)
    config = json.loads(m.group(2))         # "<\/" in the JSON reads back as "</"
    blob = bytearray()

    def move(obj):
        if isinstance(obj, dict):
            if set(obj) >= {"shape", "data"} and isinstance(obj["data"], str):
                raw = base64.b64decode(obj["data"])
                if len(raw) >= min_bytes:
                    blob.extend(b"\0" * (-len(blob) % 4))        # float32 arrays start 4-aligned
                    moved = {k: v for k, v in obj.items() if k != "data"}
                    moved["bin"] = [len(blob), len(raw)]
                    blob.extend(raw)
                    return moved
                return obj
            return {k: move(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [move(v) for v in obj]
        return obj

    config = move(config)
    if blob:
        url = save(bytes(blob))
        if not isinstance(url, str) or not url:
            raise ValueError(f"externalize: save must return the file's URL, got {url!r}.")
        config["binary"] = url
    out = markup[:m.start(2)] + _json_for_script(config) + markup[m.end(2):]
    out = _ENGINE_TAG.sub(lambda _: f"<script>{LOADER_JS}</script>", out, count=1)
    return out.replace('<div class="cnnbook-live" ',
                       f'<div class="cnnbook-live" data-engine="{html.escape(engine_src)}" ', 1)


def config_of(explorer) -> dict:
    """The data a live explorer carries (its JSON config), from the object the explorer
    functions return or from its HTML string, e.g. to check in a notebook what it ships."""
    markup = getattr(explorer, "data", explorer)
    if not isinstance(markup, str) or 'class="cnnbook-live"' not in markup:
        raise TypeError(f"config_of: expected the result of a cnnbook.live explorer (or its HTML), "
                        f"got {type(explorer).__name__}.")
    start = markup.index('<script type="application/json">') + len('<script type="application/json">')
    return json.loads(markup[start:markup.index("</script>", start)])


def _display(markup: str):
    from IPython.display import HTML
    return HTML(markup)


def _gray_square(image, size: int, fn: str) -> np.ndarray:
    """A (size, size) gray image in [0, 1]: centre-cropped and block-averaged from `image`."""
    from . import data
    if image is None:
        image = data.sample_image("camera", as_gray=True)
    a = np.asarray(image, dtype=np.float64)
    if a.ndim == 3:
        a = a[..., :3] @ np.array([0.2126, 0.7152, 0.0722])
    if a.ndim != 2 or min(a.shape) < size:
        raise ValueError(f"{fn}: image must be a gray (H, W) or RGB (H, W, 3) array at least "
                         f"{size}×{size}, got shape {np.shape(image)}; pass a larger image.")
    if a.max() > 1:
        a = a / 255
    side = min(a.shape) // size * size
    top, left = (a.shape[0] - side) // 2, (a.shape[1] - side) // 2
    a = a[top:top + side, left:left + side]
    f = side // size
    return a.reshape(size, f, size, f).mean(axis=(1, 3))


def convolution_explorer(image=None, size: int = 64, *, title: str = "Convolution explorer: "
                         "a 3×3 kernel on a photo", max_stride: int = 4, max_padding: int = 3,
                         max_dilation: int = 4):
    """A 3×3 kernel (presets or typed weights) run by the page over a `size`×`size` gray image
    (default: scikit-image's camera man, block-averaged from 512×512), with sliders for stride,
    padding and dilation. Pointing at (or focusing and moving with the arrow keys over) an output
    cell highlights its window on the input and lists the nine products that sum to it. A file
    picker swaps in the reader's own image, read and downscaled in the page (never uploaded).
    The image is shipped as uint8 (values k/255, exactly what the page computes with)."""
    for name, v, lo in (("size", size, 8), ("max_stride", max_stride, 1),
                        ("max_padding", max_padding, 0), ("max_dilation", max_dilation, 1)):
        if not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"convolution_explorer: {name} must be an integer >= {lo}, got {v!r}.")
    gray = _gray_square(image, size, "convolution_explorer")
    config = {"image": encode_array(gray, "uint8"),
              "presets": [{"name": k, "kernel": [float(v) for row in w for v in row]}
                          for k, w in KERNEL_PRESETS.items()],
              "max_stride": int(max_stride), "max_padding": int(max_padding),
              "max_dilation": int(max_dilation), "stride": 1, "padding": 1, "dilation": 1}
    return _display(live_html("convolution", config, title))


def drawing_explorer(model, classes, presets=None, preset_names=None, *,
                     title: str = "Draw an item of clothing: LeNet-5 classifies it as you draw",
                     fit: int = 28, centre: str = "box"):
    """A 28×28 drawing pad (drawn at 280×280, mouse, pen or touch) classified live in the page by
    `model` (a `cnnbook.nn.Sequential` such as a trained `LeNet5`, shipped as its
    ``state_dict()`` in float32), with the class probabilities and every layer's feature maps.
    A drawing becomes the 28×28 input in [0, 1], white on black, the way the dataset's images
    were made: cropped to the bounding box of its ink, scaled (area-averaged) so that its longer
    side spans `fit` pixels keeping its aspect ratio, and centred by that box (``centre="box"``)
    or by its centre of mass (``"mass"``). The defaults follow Fashion-MNIST (items fill the
    28×28 frame, centred); ``fit=20, centre="mass"`` is MNIST's recipe. `presets`,
    ``(K, 28, 28)`` or ``(K, 1, 28, 28)`` images in [0, 1] (e.g. test images), are offered as
    starting points, named by `preset_names`, and reach the network unchanged until drawn on."""
    if not isinstance(fit, (int, np.integer)) or not 1 <= fit <= 28:
        raise ValueError(f"drawing_explorer: fit must be an integer from 1 to 28 (pixels), got {fit!r}.")
    if centre not in ("box", "mass"):
        raise ValueError(f"drawing_explorer: centre must be 'box' or 'mass', got {centre!r}.")
    spec = model_spec(model)
    classes = [str(c) for c in classes]
    state = model.state_dict()
    config = {"spec": spec, "state": encode_state_dict(state), "classes": classes,
              "fit": int(fit), "centre": centre}
    if presets is not None:
        p = np.asarray(presets, dtype=np.float64)
        p = p.reshape(len(p), 28, 28) if p.ndim == 4 and p.shape[1] == 1 else p
        if p.ndim != 3 or p.shape[1:] != (28, 28):
            raise ValueError(f"drawing_explorer: presets must be (K, 28, 28) or (K, 1, 28, 28) "
                             f"images, got shape {np.shape(presets)}.")
        names = list(preset_names) if preset_names is not None else [f"image {i}" for i in range(len(p))]
        if len(names) != len(p):
            raise ValueError(f"drawing_explorer: {len(p)} presets but {len(names)} preset_names; "
                             f"give one name per image.")
        config["presets"] = encode_array(p, "uint8")
        config["preset_names"] = [str(n) for n in names]
    return _display(live_html("drawing", config, title))


def receptive_field_explorer(layers=None, image=None, size: int = 64, *, max_layers: int = 8,
                             title: str = "Receptive field explorer: click an output unit"):
    """A stack of convolution/pooling layers, each ``(kernel, stride, padding, dilation)``
    (default: conv 3×3, conv 3×3, 2×2 pool, conv 3×3, conv 3×3, padding 1 on the convolutions),
    over a `size`×`size` photo. The reader edits the stack and picks an output unit; the page
    draws the unit's receptive field (a box: size, jump and offset as
    `cnnbook.arithmetic.receptive_field`) and its effective receptive field: the gradient of the
    unit with respect to the input when every layer is a window sum with unit weights, computed
    in the page by back-projecting a one-hot gradient through the stack."""
    if layers is None:
        layers = [(3, 1, 1, 1), (3, 1, 1, 1), (2, 2, 0, 1), (3, 1, 1, 1), (3, 1, 1, 1)]
    rows = []
    for i, layer in enumerate(layers):
        if len(layer) != 4 or not all(isinstance(v, (int, np.integer)) for v in layer):
            raise ValueError(f"receptive_field_explorer: layer {i} must be (kernel, stride, padding, "
                             f"dilation) integers, got {layer!r}.")
        k, s, p, d = (int(v) for v in layer)
        if k < 1 or s < 1 or p < 0 or d < 1:
            raise ValueError(f"receptive_field_explorer: layer {i} = {layer!r}: kernel, stride and "
                             f"dilation must be >= 1 and padding >= 0.")
        rows.append([k, s, p, d])
    if not rows or len(rows) > max_layers:
        raise ValueError(f"receptive_field_explorer: give 1 to max_layers={max_layers} layers, got "
                         f"{len(rows)}.")
    gray = _gray_square(image, size, "receptive_field_explorer")
    config = {"image": encode_array(gray, "uint8"), "layers": rows, "max_layers": int(max_layers)}
    return _display(live_html("receptive_field", config, title))
