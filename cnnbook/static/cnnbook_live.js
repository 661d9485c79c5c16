/* cnnbook live explorers: a small forward-pass engine and three explorers that compute in the
   page. Plain JavaScript, no library. Tensors are {shape: [N, C, H, W] (or [N, F]),
   data: Float32Array} in NCHW, as in cnnbook and PyTorch; weights come from a cnnbook
   state_dict, each array shipped as little-endian float32 (or uint8 codes of [0, 1] values).
   In a notebook, an explorer's HTML output carries this file and its arrays (base64) inline,
   so a trusted notebook runs it alone. In the rendered book (cnnbook.live.externalize) the
   output carries a small loader instead: when the explorer nears the screen it adds this file
   by <script src> from the book's _static/ folder, and the explorer adds its large arrays the
   same way, from one data script (base64) next to the page (its config names the file and each
   array's offset): <script src> works from a copy of the book opened from disk (file://), where
   browsers refuse fetch().
   The first copy to run defines window.cnnbookLive and later copies only mount their explorer.
   Sums accumulate in double precision and are stored as float32. */
(function () {
  "use strict";
  if (window.cnnbookLive && window.cnnbookLive.version === 1) {
    window.cnnbookLive.mount(document.currentScript && document.currentScript.parentNode);
    return;
  }

  // ---------------------------------------------------------------- the explorers' style sheet
  // Added to the document once, by the first copy of this file that runs.
  var CSS = [
    ".cnnbook-live{margin:0.5rem 0 1rem;max-width:688px;font-size:14px;line-height:1.35;box-sizing:border-box}",
    ".cnnbook-live *{box-sizing:border-box}",
    ".cnnbook-live .cl-title{font-weight:600;margin-bottom:0.4rem}",
    ".cnnbook-live .cl-controls{display:flex;flex-wrap:wrap;gap:0.4rem 1.2rem;margin-bottom:0.5rem}",
    ".cnnbook-live .cl-col{flex:1 1 15rem;min-width:0;max-width:100%}",
    ".cnnbook-live .cl-control{display:flex;flex-wrap:wrap;align-items:center;gap:0.3rem 0.6rem;margin:0.25rem 0}",
    ".cnnbook-live .cl-control label{flex:0 0 auto;min-width:4.5rem}",
    ".cnnbook-live .cl-control input[type=range]{flex:1 1 6rem;min-width:0}",
    ".cnnbook-live .cl-control output{min-width:1.5rem;font-variant-numeric:tabular-nums}",
    ".cnnbook-live .cl-file input{max-width:100%;font-size:13px}",
    ".cnnbook-live select,.cnnbook-live button,.cnnbook-live input{font-size:14px;max-width:100%}",
    ".cnnbook-live button{padding:0.2rem 0.6rem;margin:0.2rem 0.4rem 0.2rem 0}",
    ".cnnbook-live fieldset.cl-kernel{border:1px solid #ccc;padding:0.3rem 0.5rem;margin:0.3rem 0;max-width:17rem;min-width:0}",
    ".cnnbook-live .cl-grid3{display:grid;grid-template-columns:repeat(3,minmax(0,5rem));gap:0.25rem}",
    ".cnnbook-live fieldset.cl-kernel legend{font-size:13px;padding:0 0.2rem;float:none;width:auto;margin:0}",
    ".cnnbook-live fieldset.cl-kernel input{width:100%;font-variant-numeric:tabular-nums}",
    ".cnnbook-live .cl-panels{display:flex;flex-wrap:wrap;gap:0.8rem}",
    ".cnnbook-live figure{margin:0;flex:0 1 280px;min-width:0;max-width:100%}",
    ".cnnbook-live figure canvas{display:block;width:100%;max-width:280px;height:auto;image-rendering:pixelated}",
    ".cnnbook-live figcaption{font-size:13px;color:#444;margin-top:0.2rem}",
    ".cnnbook-live canvas:focus{outline:3px solid #4a90d9;outline-offset:2px}",
    ".cnnbook-live .cl-readout{font-size:14px;margin-top:0.5rem;font-variant-numeric:tabular-nums}",
    ".cnnbook-live .cl-products{display:grid;grid-template-columns:repeat(3,minmax(0,1fr));gap:0.15rem 0.6rem;font-size:13px;margin:0.2rem 0;max-width:34rem}",
    ".cnnbook-live .cl-sum{font-weight:600}",
    ".cnnbook-live .cl-padwrap{position:relative;width:100%;max-width:280px}",
    ".cnnbook-live canvas.cl-pad{display:block;width:100%;max-width:280px;height:auto;touch-action:none;cursor:crosshair;border:1px solid #888}",
    ".cnnbook-live .cl-cursor{display:none;position:absolute;border:2px solid #e8710a;border-radius:50%;pointer-events:none;box-shadow:0 0 0 1px #fff}",
    ".cnnbook-live .cl-padwrap:focus-within .cl-cursor{display:block}",
    ".cnnbook-live .cl-keyhelp{font-size:13px;color:#444;margin:0.2rem 0}",
    ".cnnbook-live .cl-probs{display:grid;gap:0.15rem;font-size:13px}",
    ".cnnbook-live .cl-bar{display:grid;grid-template-columns:minmax(0,6.5rem) minmax(0,1fr) auto;gap:0.4rem;align-items:center}",
    ".cnnbook-live .cl-bar-track{display:block;height:0.8rem;background:#eee}",
    ".cnnbook-live .cl-bar-fill{display:block;height:100%;background:#4a90d9}",
    ".cnnbook-live .cl-bar-val{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap;min-width:3.8rem}",
    ".cnnbook-live .cl-status{font-size:13px;margin:0.2rem 0;color:#a00000}",
    ".cnnbook-live .cl-status:empty{display:none}",
    ".cnnbook-live .cl-sr{position:absolute;width:1px;height:1px;margin:-1px;padding:0;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}",
    ".cnnbook-live .cl-best{font-weight:700}",
    ".cnnbook-live .cl-best .cl-bar-fill{background:#e8710a}",
    ".cnnbook-live .cl-maps{display:grid;gap:0.4rem;margin-top:0.6rem}",
    ".cnnbook-live .cl-maplabel{font-size:13px;color:#333}",
    ".cnnbook-live .cl-mapimgs{display:flex;flex-wrap:wrap;gap:3px}",
    ".cnnbook-live .cl-mapimgs canvas{image-rendering:pixelated;max-width:100%;height:auto}",
    ".cnnbook-live .cl-mapimgs canvas.cl-vector{display:block;flex:1 1 100%;width:100%;max-width:none;height:12px;border:1px solid #999}",
    ".cnnbook-live table.cl-layers{border-collapse:collapse;font-size:13px;max-width:100%}",
    ".cnnbook-live table.cl-layers caption{text-align:left;font-size:13px;color:#444}",
    ".cnnbook-live table.cl-layers th,.cnnbook-live table.cl-layers td{padding:0.1rem 0.3rem;text-align:center}",
    ".cnnbook-live table.cl-layers select{font-size:13px}"
  ].join("\n");
  if (!document.getElementById("cnnbook-live-style")) {
    var sheet = document.createElement("style");
    sheet.id = "cnnbook-live-style";
    sheet.textContent = CSS;
    (document.head || document.documentElement).appendChild(sheet);
  }

  // ---------------------------------------------------------------- tensors and weights
  function tensor(shape, data) {
    var n = shape.reduce(function (a, b) { return a * b; }, 1);
    data = data || new Float32Array(n);
    if (data.length !== n) throw new Error("tensor: " + data.length + " values for shape [" + shape + "]");
    return { shape: shape.slice(), data: data };
  }
  // {shape, data: base64} or {shape, bytes: Uint8Array}: float32, or uint8 with dtype "uint8".
  function decodeArray(a) {
    var bytes = a.bytes;
    if (!bytes) {
      var bin = atob(a.data);
      bytes = new Uint8Array(bin.length);
      for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    }
    if (a.dtype === "uint8") {
      var f = new Float32Array(bytes.length);
      for (var j = 0; j < bytes.length; j++) f[j] = bytes[j] / 255;
      return tensor(a.shape, f);
    }
    return tensor(a.shape, new Float32Array(bytes.slice().buffer));
  }
  // Arrays kept in a binary file: each {shape, bin: [offset, length]} gets its bytes from buf.
  function attachBinary(obj, buf) {
    if (!obj || typeof obj !== "object") return;
    if (Array.isArray(obj.bin) && obj.shape) {
      var o = obj.bin[0], n = obj.bin[1];
      if (o + n > buf.byteLength) throw new Error("binary file holds " + buf.byteLength + " bytes, the array needs " + (o + n));
      obj.bytes = new Uint8Array(buf.slice(o, o + n));
      return;
    }
    Object.keys(obj).forEach(function (k) { attachBinary(obj[k], buf); });
  }
  function decodeState(state) {
    var out = {};
    Object.keys(state).forEach(function (k) { out[k] = decodeArray(state[k]); });
    return out;
  }
  function pair(v, name) {
    if (v === undefined || v === null) return null;
    var p = Array.isArray(v) ? v : [v, v];
    if (p.length !== 2) throw new Error(name + " must be a number or a pair");
    return p;
  }
  function outSize(n, k, s, p, d) { return Math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1; }

  // ---------------------------------------------------------------- operations
  function conv2d(x, w, b, o) {
    o = o || {};
    var st = pair(o.stride || 1), pd = pair(o.padding || 0), dl = pair(o.dilation || 1), g = o.groups || 1;
    var N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
    var Co = w.shape[0], Cg = w.shape[1], KH = w.shape[2], KW = w.shape[3];
    if (Cg * g !== C || Co % g !== 0)
      throw new Error("conv2d: input has " + C + " channels, weight expects " + Cg + " x groups=" + g);
    var Ho = outSize(H, KH, st[0], pd[0], dl[0]), Wo = outSize(W, KW, st[1], pd[1], dl[1]);
    if (Ho < 1 || Wo < 1) throw new Error("conv2d: the kernel does not fit the padded input");
    var out = tensor([N, Co, Ho, Wo]), xd = x.data, wd = w.data, od = out.data, per = Co / g;
    for (var n = 0; n < N; n++)
      for (var co = 0; co < Co; co++) {
        var c0 = Math.floor(co / per) * Cg, bias = b ? b.data[co] : 0;
        for (var oy = 0; oy < Ho; oy++)
          for (var ox = 0; ox < Wo; ox++) {
            var s = bias;
            for (var ci = 0; ci < Cg; ci++) {
              var xb = ((n * C) + c0 + ci) * H * W, wb = (co * Cg + ci) * KH * KW;
              for (var ky = 0; ky < KH; ky++) {
                var iy = oy * st[0] - pd[0] + ky * dl[0];
                if (iy < 0 || iy >= H) continue;
                for (var kx = 0; kx < KW; kx++) {
                  var ix = ox * st[1] - pd[1] + kx * dl[1];
                  if (ix < 0 || ix >= W) continue;
                  s += xd[xb + iy * W + ix] * wd[wb + ky * KW + kx];
                }
              }
            }
            od[((n * Co + co) * Ho + oy) * Wo + ox] = s;
          }
      }
    return out;
  }

  function pool2d(x, o, kind) {
    var k = pair(o.kernel_size), st = pair(o.stride) || k, pd = pair(o.padding || 0),
        dl = pair(kind === "max" ? (o.dilation || 1) : 1);
    if (o.ceil_mode) throw new Error(kind + "_pool2d: ceil_mode is not supported here");
    var N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
    var Ho = outSize(H, k[0], st[0], pd[0], dl[0]), Wo = outSize(W, k[1], st[1], pd[1], dl[1]);
    var out = tensor([N, C, Ho, Wo]), xd = x.data, od = out.data;
    var includePad = o.count_include_pad !== false;
    for (var nc = 0; nc < N * C; nc++)
      for (var oy = 0; oy < Ho; oy++)
        for (var ox = 0; ox < Wo; ox++) {
          var best = -Infinity, sum = 0, count = 0;
          for (var ky = 0; ky < k[0]; ky++) {
            var iy = oy * st[0] - pd[0] + ky * dl[0];
            for (var kx = 0; kx < k[1]; kx++) {
              var ix = ox * st[1] - pd[1] + kx * dl[1];
              var inside = iy >= 0 && iy < H && ix >= 0 && ix < W;
              if (kind === "avg") {
                // PyTorch counts padded cells (count_include_pad) but never cells past the padding
                if (inside) { sum += xd[(nc * H + iy) * W + ix]; count++; }
                else if (includePad && iy < H + pd[0] && ix < W + pd[1]) count++;
              } else if (inside) {
                var v = xd[(nc * H + iy) * W + ix];
                if (v > best || v !== v) best = v;
              }
            }
          }
          od[(nc * Ho + oy) * Wo + ox] = kind === "avg" ? sum / count : best;
        }
    return out;
  }
  function maxPool2d(x, o) { return pool2d(x, o, "max"); }
  function avgPool2d(x, o) { return pool2d(x, o, "avg"); }

  function linear(x, w, b) {
    var N = x.shape[0], F = x.data.length / N, O = w.shape[0];
    if (w.shape[1] !== F) throw new Error("linear: input has " + F + " features, weight expects " + w.shape[1]);
    var out = tensor([N, O]);
    for (var n = 0; n < N; n++)
      for (var o = 0; o < O; o++) {
        var s = b ? b.data[o] : 0, xb = n * F, wb = o * F;
        for (var f = 0; f < F; f++) s += x.data[xb + f] * w.data[wb + f];
        out.data[n * O + o] = s;
      }
    return out;
  }
  function map(x, f) {
    var out = tensor(x.shape);
    for (var i = 0; i < x.data.length; i++) out.data[i] = f(x.data[i]);
    return out;
  }
  function relu(x) { return map(x, function (v) { return v > 0 ? v : 0; }); }
  function tanh(x) { return map(x, Math.tanh); }
  function sigmoid(x) { return map(x, function (v) { return 1 / (1 + Math.exp(-v)); }); }
  function flatten(x) { return tensor([x.shape[0], x.data.length / x.shape[0]], x.data.slice()); }
  function softmax(x) {                // over the last axis
    var F = x.shape[x.shape.length - 1], out = tensor(x.shape);
    for (var r = 0; r < x.data.length / F; r++) {
      var m = -Infinity, s = 0, i;
      for (i = 0; i < F; i++) m = Math.max(m, x.data[r * F + i]);
      var e = new Float64Array(F);
      for (i = 0; i < F; i++) { e[i] = Math.exp(x.data[r * F + i] - m); s += e[i]; }
      for (i = 0; i < F; i++) out.data[r * F + i] = e[i] / s;
    }
    return out;
  }

  // One layer of a spec (a list exported by cnnbook.live.model_spec) applied to x.
  function layer(l, state, x) {
    var w = l.key !== undefined ? state[l.key + ".weight"] : null,
        b = l.key !== undefined ? state[l.key + ".bias"] || null : null;
    switch (l.type) {
      case "conv2d": return conv2d(x, w, b, l);
      case "max_pool2d": return maxPool2d(x, l);
      case "avg_pool2d": return avgPool2d(x, l);
      case "linear": return linear(x, w, b);
      case "relu": return relu(x);
      case "tanh": return tanh(x);
      case "sigmoid": return sigmoid(x);
      case "flatten": return flatten(x);
      case "softmax": return softmax(x);
      default: throw new Error("cnnbookLive: unknown layer type " + l.type);
    }
  }
  // Runs every layer; returns the output and each layer's output.
  function forward(spec, state, x) {
    var acts = [];
    for (var i = 0; i < spec.length; i++) { x = layer(spec[i], state, x); acts.push(x); }
    return { out: x, acts: acts };
  }

  // ---------------------------------------------------------------- small DOM helpers
  var uid = 0;
  function el(tag, attrs, parent, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "class") e.className = attrs[k]; else e.setAttribute(k, attrs[k]);
    });
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function nextId(p) { uid += 1; return "cnnbook-live-" + p + "-" + uid + "-" + Math.floor(Math.random() * 1e6); }
  // A labelled range slider with a read-out; onChange(value) on every move.
  function slider(parent, name, min, max, value, onChange, spoken) {
    var row = el("div", { "class": "cl-control" }, parent), id = nextId("s");
    el("label", { "for": id }, row, name);
    var s = el("input", { type: "range", id: id, min: min, max: max, step: 1, value: value }, row);
    var out = el("output", { "for": id }, row, String(value));
    function set() {
      var v = +s.value;
      out.textContent = String(v);
      s.setAttribute("aria-valuetext", spoken ? spoken(v) : String(v));
      onChange(v);
    }
    s.addEventListener("input", set);
    s.setAttribute("aria-valuetext", spoken ? spoken(value) : String(value));
    return s;
  }
  function select(parent, name, options, onChange) {
    var row = el("div", { "class": "cl-control" }, parent), id = nextId("c");
    el("label", { "for": id }, row, name);
    var s = el("select", { id: id }, row);
    options.forEach(function (o, i) { el("option", { value: i }, s, o); });
    s.addEventListener("change", function () { onChange(+s.value); });
    return s;
  }
  function gray(v) { var c = Math.max(0, Math.min(255, Math.round(v * 255))); return [c, c, c]; }
  // Paints a (H, W) map into a canvas `scale` pixels per cell; `colour(v)` -> [r, g, b].
  function paint(canvas, data, H, W, scale, colour, offset) {
    offset = offset || [0, 0];
    var ctx = canvas.getContext("2d"), img = ctx.createImageData(W * scale, H * scale);
    for (var y = 0; y < H * scale; y++)
      for (var x = 0; x < W * scale; x++) {
        var c = colour(data[offset[0] + Math.floor(y / scale) * W + Math.floor(x / scale)]), i = 4 * (y * W * scale + x);
        img.data[i] = c[0]; img.data[i + 1] = c[1]; img.data[i + 2] = c[2]; img.data[i + 3] = 255;
      }
    return img;
  }
  function range(data) {
    var lo = Infinity, hi = -Infinity;
    for (var i = 0; i < data.length; i++) { lo = Math.min(lo, data[i]); hi = Math.max(hi, data[i]); }
    return [lo, hi];
  }
  function fmt(v, d) { return (Math.abs(v) < 5e-5 ? 0 : v).toFixed(d === undefined ? 2 : d); }
  // A canvas cell under a pointer event: [row, col] of an (H, W) grid drawn over the canvas.
  function cellAt(canvas, ev, H, W) {
    var r = canvas.getBoundingClientRect();
    return [Math.min(H - 1, Math.max(0, Math.floor((ev.clientY - r.top) / r.height * H))),
            Math.min(W - 1, Math.max(0, Math.floor((ev.clientX - r.left) / r.width * W)))];
  }
  // Arrow keys move a selected cell inside an (H, W) grid.
  function arrowKeys(canvas, get, set) {
    canvas.addEventListener("keydown", function (ev) {
      var d = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] }[ev.key];
      if (!d) return;
      ev.preventDefault();
      var c = get();
      set([c[0] + d[0], c[1] + d[1]]);
    });
  }
  function clamp(v, lo, hi) { return Math.max(lo, Math.min(hi, v)); }
  // A visually hidden live region: a screen reader hears the short message given, not the
  // whole read-out that a change redraws.
  function announcer(parent) {
    var box = el("div", { "class": "cl-sr", "aria-live": "polite", "aria-atomic": "true" }, parent);
    return function (text) { if (box.textContent !== text) box.textContent = text; };
  }

  // Reads an image file locally (never uploaded) into an (S, S) gray map in [0, 1], centre-cropped.
  function readImageFile(file, S, done) {
    var url = URL.createObjectURL(file), im = new Image();
    im.onload = function () {
      var c = document.createElement("canvas"); c.width = c.height = S;
      var ctx = c.getContext("2d"), side = Math.min(im.width, im.height);
      ctx.drawImage(im, (im.width - side) / 2, (im.height - side) / 2, side, side, 0, 0, S, S);
      var d = ctx.getImageData(0, 0, S, S).data, g = new Float32Array(S * S);
      for (var i = 0; i < S * S; i++) g[i] = (0.2126 * d[4 * i] + 0.7152 * d[4 * i + 1] + 0.0722 * d[4 * i + 2]) / 255;
      URL.revokeObjectURL(url);
      done(g);
    };
    im.onerror = function () { URL.revokeObjectURL(url); done(null); };
    im.src = url;
  }

  // ---------------------------------------------------------------- a. convolution explorer
  function convolutionExplorer(root, cfg) {
    var S = cfg.image.shape[0], img = decodeArray(cfg.image).data, presets = cfg.presets;
    var st = { kernel: presets[0].kernel.slice(), stride: cfg.stride || 1, padding: cfg.padding || 0,
               dilation: cfg.dilation || 1, sel: [0, 0], out: null, Ho: 0, Wo: 0, unread: 0 };
    var PMAX = cfg.max_padding, DMAX = cfg.max_dilation, CELL = 4, side = (S + 2 * PMAX) * CELL;
    var controls = el("div", { "class": "cl-controls" }, root);
    var left = el("div", { "class": "cl-col" }, controls), right = el("div", { "class": "cl-col" }, controls);
    var presetSel = select(left, "Kernel", presets.map(function (p) { return p.name; }).concat(["custom (typed weights)"]), function (i) {
      if (i >= presets.length) return;
      st.kernel = presets[i].kernel.slice();
      inputs.forEach(function (inp, j) { inp.value = st.kernel[j]; });
      update();
      say("kernel " + presets[i].name);
    });
    var customOption = presetSel.options[presets.length];
    customOption.disabled = true;
    // the kernel's name: a preset whose weights the kernel equals, else "custom"
    function nameKernel() {
      var k = presets.findIndex(function (p) {
        return p.kernel.every(function (v, j) { return Math.abs(v - st.kernel[j]) < 1e-9; });
      });
      presetSel.value = String(k >= 0 ? k : presets.length);
    }
    var fs = el("fieldset", { "class": "cl-kernel" }, left);
    el("legend", {}, fs, "3×3 weights (editable)");
    var grid3 = el("div", { "class": "cl-grid3" }, fs);
    var inputs = st.kernel.map(function (v, j) {
      var inp = el("input", { type: "number", step: "0.1", value: v,
                              "aria-label": "weight, row " + (Math.floor(j / 3) + 1) + ", column " + (j % 3 + 1) }, grid3);
      // an empty (or unreadable) box counts as 0, and shows 0 once the reader leaves it
      inp.addEventListener("input", function () {
        var x = parseFloat(inp.value);
        st.kernel[j] = isFinite(x) ? x : 0;
        nameKernel();
        update();
      });
      inp.addEventListener("change", function () {
        if (!isFinite(parseFloat(inp.value))) inp.value = "0";
        say("weight row " + (Math.floor(j / 3) + 1) + ", column " + (j % 3 + 1) + " = " + fmt(st.kernel[j], 2) +
            "; output[" + st.sel[0] + ", " + st.sel[1] + "] = " + (st.out ? fmt(st.out.data[st.sel[0] * st.Wo + st.sel[1]], 3) : "none"));
      });
      return inp;
    });
    function sayShape() { say(st.out ? "output " + st.Ho + " by " + st.Wo : "no output: the window is wider than the padded input"); }
    slider(right, "stride", 1, cfg.max_stride, st.stride, function (v) { st.stride = v; update(); sayShape(); });
    slider(right, "padding", 0, PMAX, st.padding, function (v) { st.padding = v; update(); sayShape(); });
    slider(right, "dilation", 1, DMAX, st.dilation, function (v) { st.dilation = v; update(); sayShape(); });
    var fileRow = el("div", { "class": "cl-control cl-file" }, right), fid = nextId("f");
    el("label", { "for": fid }, fileRow, "Your own image (stays on this device)");
    var file = el("input", { type: "file", id: fid, accept: "image/*" }, fileRow);
    var fileStatus = el("div", { "class": "cl-status", role: "status" }, right);
    var reset = el("button", { type: "button" }, right, "Back to the sample photo");
    file.addEventListener("change", function () {
      if (!file.files || !file.files[0]) return;
      var f = file.files[0];
      fileStatus.textContent = "";
      readImageFile(f, S, function (g) {
        if (g) { img = g; update(); say("your image " + f.name + " loaded"); return; }
        fileStatus.textContent = "“" + f.name + "” could not be read as an image (a broken file, or a format " +
          "this browser does not show); the explorer keeps the previous image.";
      });
    });
    reset.addEventListener("click", function () { img = decodeArray(cfg.image).data; file.value = ""; fileStatus.textContent = ""; update(); });

    var panels = el("div", { "class": "cl-panels" }, root);
    var p1 = el("figure", {}, panels), p2 = el("figure", {}, panels);
    var cin = el("canvas", { width: side, height: side, role: "img",
                             "aria-label": "input image with the window of the selected output cell" }, p1);
    var cap1 = el("figcaption", {}, p1);
    var cout = el("canvas", { tabindex: "0", role: "img" }, p2);
    var cap2 = el("figcaption", {}, p2);
    var readout = el("div", { "class": "cl-readout" }, root);
    var say = announcer(root);

    function compute() {
      var x = tensor([1, 1, S, S], img), w = tensor([1, 1, 3, 3], Float32Array.from(st.kernel));
      var eff = st.dilation * 2 + 1;
      if (S + 2 * st.padding < eff) return null;
      return conv2d(x, w, null, { stride: st.stride, padding: st.padding, dilation: st.dilation });
    }
    function drawInput() {
      var ctx = cin.getContext("2d");
      ctx.fillStyle = "#f4f4f4"; ctx.fillRect(0, 0, side, side);
      var off = (PMAX - st.padding) * CELL;
      ctx.fillStyle = "#000"; ctx.fillRect(off, off, (S + 2 * st.padding) * CELL, (S + 2 * st.padding) * CELL);
      ctx.putImageData(paint(cin, img, S, S, CELL, gray), PMAX * CELL, PMAX * CELL);
      if (st.padding) {
        ctx.strokeStyle = "#4a90d9"; ctx.lineWidth = 1;
        ctx.strokeRect(off + 0.5, off + 0.5, (S + 2 * st.padding) * CELL - 1, (S + 2 * st.padding) * CELL - 1);
      }
      if (!st.out) return;
      // input pixels that no window reads (a stride wider than the window, a last step that
      // does not fit, dilated taps that skip columns), tinted magenta lightly enough that the
      // photo stays legible under it
      var read = new Uint8Array(S * S), d = st.dilation;
      for (var oy = 0; oy < st.Ho; oy++)
        for (var ky0 = 0; ky0 < 3; ky0++) {
          var ry = oy * st.stride - st.padding + ky0 * d;
          if (ry < 0 || ry >= S) continue;
          for (var ox = 0; ox < st.Wo; ox++)
            for (var kx0 = 0; kx0 < 3; kx0++) {
              var rx = ox * st.stride - st.padding + kx0 * d;
              if (rx >= 0 && rx < S) read[ry * S + rx] = 1;
            }
        }
      st.unread = 0;
      ctx.fillStyle = "rgba(220,0,220,0.3)";
      for (var q = 0; q < S * S; q++)
        if (!read[q]) { st.unread++; ctx.fillRect((PMAX + q % S) * CELL, (PMAX + Math.floor(q / S)) * CELL, CELL, CELL); }
      var y0 = st.sel[0] * st.stride - st.padding, x0 = st.sel[1] * st.stride - st.padding;
      ctx.strokeStyle = "#ff8c00"; ctx.lineWidth = 2;
      var span = (2 * st.dilation + 1) * CELL;
      ctx.strokeRect((PMAX + x0) * CELL, (PMAX + y0) * CELL, span, span);
      ctx.fillStyle = "rgba(255,40,40,0.55)"; ctx.strokeStyle = "#ff2020"; ctx.lineWidth = 1;
      for (var ky = 0; ky < 3; ky++)
        for (var kx = 0; kx < 3; kx++) {
          var tx = (PMAX + x0 + kx * st.dilation) * CELL, ty = (PMAX + y0 + ky * st.dilation) * CELL;
          ctx.fillRect(tx, ty, CELL, CELL); ctx.strokeRect(tx + 0.5, ty + 0.5, CELL - 1, CELL - 1);
        }
    }
    function drawOutput() {
      var out = st.out, Ho = st.Ho, Wo = st.Wo, scale = Math.max(1, Math.floor(side / Math.max(Ho, Wo)));
      cout.width = Wo * scale; cout.height = Ho * scale;
      var r = range(out.data), span = r[1] - r[0] || 1;
      var ctx = cout.getContext("2d");
      ctx.putImageData(paint(cout, out.data, Ho, Wo, scale, function (v) { return gray((v - r[0]) / span); }), 0, 0);
      ctx.strokeStyle = "#ff8c00"; ctx.lineWidth = Math.max(2, scale / 3);
      ctx.strokeRect(st.sel[1] * scale, st.sel[0] * scale, scale, scale);
      cap2.textContent = "output " + Ho + "×" + Wo + " (black " + fmt(r[0]) + ", white " + fmt(r[1]) + ")";
      cout.setAttribute("aria-label", "output map " + Ho + " by " + Wo + "; selected cell row " + st.sel[0] +
                        ", column " + st.sel[1] + " = " + fmt(out.data[st.sel[0] * Wo + st.sel[1]], 3) +
                        "; arrow keys move the selection");
    }
    function drawReadout() {
      readout.textContent = "";
      if (!st.out) { readout.textContent = "The dilated kernel is wider than the padded input: no output."; return; }
      var y0 = st.sel[0] * st.stride - st.padding, x0 = st.sel[1] * st.stride - st.padding, total = 0;
      el("div", { "class": "cl-sum-title" }, readout, "output[" + st.sel[0] + ", " + st.sel[1] + "] = sum of the nine products input × weight:");
      var grid = el("div", { "class": "cl-products" }, readout);
      for (var ky = 0; ky < 3; ky++)
        for (var kx = 0; kx < 3; kx++) {
          var iy = y0 + ky * st.dilation, ix = x0 + kx * st.dilation;
          var inside = iy >= 0 && iy < S && ix >= 0 && ix < S, v = inside ? img[iy * S + ix] : 0;
          var p = Math.fround(v) * st.kernel[ky * 3 + kx];
          total += p;
          el("span", {}, grid, fmt(v) + (inside ? "" : " (pad)") + " × " + fmt(st.kernel[ky * 3 + kx], 2) + " = " + fmt(p, 3));
        }
      el("div", { "class": "cl-sum" }, readout, "sum = " + fmt(total, 4) + "  (the output map holds " +
         fmt(st.out.data[st.sel[0] * st.Wo + st.sel[1]], 4) + ")");
    }
    function update() {
      st.out = compute();
      if (st.out) {
        st.Ho = st.out.shape[2]; st.Wo = st.out.shape[3];
        st.sel = [clamp(st.sel[0], 0, st.Ho - 1), clamp(st.sel[1], 0, st.Wo - 1)];
        drawOutput();
      }
      drawInput();
      cap1.textContent = "input " + S + "×" + S + (st.padding ? " + padding " + st.padding : "") +
                         "; window " + (2 * st.dilation + 1) + "×" + (2 * st.dilation + 1) +
                         (st.out ? "; " + (st.unread ? st.unread + " pixels read by no window (magenta)" : "every pixel is read") : "");
      drawReadout();
    }
    function choose(c) {
      if (!st.out) return;
      st.sel = [clamp(c[0], 0, st.Ho - 1), clamp(c[1], 0, st.Wo - 1)];
      drawOutput(); drawInput(); drawReadout();
      say("output[" + st.sel[0] + ", " + st.sel[1] + "] = " + fmt(st.out.data[st.sel[0] * st.Wo + st.sel[1]], 3));
    }
    cout.addEventListener("pointermove", function (ev) { if (st.out) choose(cellAt(cout, ev, st.Ho, st.Wo)); });
    cout.addEventListener("pointerdown", function (ev) { if (st.out) choose(cellAt(cout, ev, st.Ho, st.Wo)); });
    arrowKeys(cout, function () { return st.sel; }, choose);
    st.sel = [Math.floor(S / 4), Math.floor(S / 4)];
    update();
    return {
      state: function () {
        return { input: Array.from(img), kernel: st.kernel.slice(), stride: st.stride, padding: st.padding,
                 dilation: st.dilation, sel: st.sel.slice(), shape: st.out ? st.out.shape : null, unread: st.unread,
                 output: st.out ? Array.from(st.out.data) : null };
      },
      setImage: function (g) { img = Float32Array.from(g); update(); },
      select: choose,
      presetSelect: presetSel,
      weightInputs: inputs,
      status: fileStatus
    };
  }

  // ---------------------------------------------------------------- b. draw and classify
  function drawingExplorer(root, cfg) {
    var state = decodeState(cfg.state), spec = cfg.spec, classes = cfg.classes, S = 28, Z = 10, BIG = S * Z;
    var presets = cfg.presets ? decodeArray(cfg.presets) : null;
    var top = el("div", { "class": "cl-controls" }, root);
    var left = el("div", { "class": "cl-col" }, top), right = el("div", { "class": "cl-col" }, top);
    var padWrap = el("div", { "class": "cl-padwrap" }, left);
    var pad = el("canvas", { width: BIG, height: BIG, "class": "cl-pad", tabindex: "0", role: "application",
                             "aria-roledescription": "drawing pad",
                             "aria-keyshortcuts": "ArrowUp ArrowDown ArrowLeft ArrowRight Space Enter",
                             "aria-label": "drawing area, 28 by 28 pixels: draw with a mouse, pen or finger, or with " +
                                           "the keyboard: arrow keys move the cursor, Space or Enter paints at it, " +
                                           "Shift with an arrow key paints as it moves; choose a test image below to start from one" }, padWrap);
    var cursorBox = el("div", { "class": "cl-cursor", "aria-hidden": "true" }, padWrap);
    var keyHelp = el("div", { "class": "cl-keyhelp" }, left, "Keyboard: focus the pad, arrow keys move the cursor, Space or Enter paints, Shift + arrow paints a line.");
    var buttons = el("div", { "class": "cl-control" }, left);
    var clear = el("button", { type: "button" }, buttons, "Clear");
    var brush = 2.2, lastImage = null;
    var brushSel = select(left, "Brush", ["medium", "thin", "thick"], function (i) { brush = [2.2, 1.4, 3.4][i]; });
    var presetSel = presets ? select(left, "Start from", ["(blank)"].concat(cfg.preset_names), function (i) {
      if (i === 0) blank(); else load(presets.data.subarray((i - 1) * S * S, i * S * S));
      predict();
    }) : null;
    var probs = el("div", { "class": "cl-probs", role: "list", "aria-label": "class probabilities" }, right);
    var bars = classes.map(function (c) {
      var row = el("div", { "class": "cl-bar", role: "listitem" }, probs);
      var name = el("span", { "class": "cl-bar-name" }, row, c);
      var track = el("span", { "class": "cl-bar-track" }, row);
      var fill = el("span", { "class": "cl-bar-fill" }, track);
      var val = el("span", { "class": "cl-bar-val" }, row, "");
      return { row: row, name: name, fill: fill, val: val };
    });
    var verdict = el("div", { "class": "cl-readout", "aria-live": "polite" }, right);
    var mapsBox = el("div", { "class": "cl-maps" }, root);
    var ctx = pad.getContext("2d");
    function blank() { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, BIG, BIG); asLoaded = false; }
    function load(a) {
      asLoaded = true;
      for (var y = 0; y < S; y++)
        for (var x = 0; x < S; x++) {
          var c = Math.round(a[y * S + x] * 255);
          ctx.fillStyle = "rgb(" + c + "," + c + "," + c + ")"; ctx.fillRect(x * Z, y * Z, Z, Z);
        }
    }
    // The 28x28 image the network sees, in [0, 1] as in training. A test image loaded with
    // "Start from" and not drawn on is passed as it is (the mean of each 10x10 block of the pad).
    // A drawing is made the way the dataset's images were (cfg.fit, cfg.centre): cropped to the
    // bounding box of its ink, scaled (area-averaged) so that its longer side spans `fit`
    // pixels, keeping its aspect ratio, and centred in 28x28 by the box's centre ("box") or by
    // its centre of mass ("mass"). So a small item drawn in a corner reaches the network as
    // large and as centred as the training items.
    var FIT = cfg.fit || S, CENTRE = cfg.centre || "box", asLoaded = false;
    function image28() {
      var d = ctx.getImageData(0, 0, BIG, BIG).data, g = new Float32Array(S * S), y, x, i;
      if (asLoaded) {
        for (y = 0; y < BIG; y++)
          for (x = 0; x < BIG; x++) g[Math.floor(y / Z) * S + Math.floor(x / Z)] += d[4 * (y * BIG + x)];
        for (i = 0; i < g.length; i++) g[i] = g[i] / (Z * Z * 255);
        return g;
      }
      var pad = new Float32Array(BIG * BIG), y0 = BIG, y1 = -1, x0 = BIG, x1 = -1;
      for (i = 0; i < BIG * BIG; i++) {
        pad[i] = d[4 * i] / 255;
        if (pad[i] > 0.05) {
          y = Math.floor(i / BIG); x = i % BIG;
          if (y < y0) y0 = y; if (y > y1) y1 = y; if (x < x0) x0 = x; if (x > x1) x1 = x;
        }
      }
      if (y1 < 0) return g;                                   // nothing drawn
      var bh = y1 - y0 + 1, bw = x1 - x0 + 1, k = FIT / Math.max(bh, bw);
      var oh = clamp(Math.round(bh * k), 1, S), ow = clamp(Math.round(bw * k), 1, S);
      var fitted = resample(pad, BIG, y0, x0, bh, bw, oh, ow);
      var dy = (S - oh) / 2, dx = (S - ow) / 2;
      if (CENTRE === "mass") {
        var m = 0, my = 0, mx = 0;
        for (y = 0; y < oh; y++) for (x = 0; x < ow; x++) { var v = fitted[y * ow + x]; m += v; my += v * (y + 0.5); mx += v * (x + 0.5); }
        if (m > 0) { dy = S / 2 - my / m; dx = S / 2 - mx / m; }
      }
      dy = Math.round(dy); dx = Math.round(dx);
      for (y = 0; y < oh; y++)
        for (x = 0; x < ow; x++) {
          var ty = y + dy, tx = x + dx;
          if (ty >= 0 && ty < S && tx >= 0 && tx < S) g[ty * S + tx] = Math.min(1, fitted[y * ow + x]);
        }
      return g;
    }
    // The (bh, bw) box at (y0, x0) of a (W-wide) map, area-averaged to (oh, ow): every output
    // pixel is the mean of the part of the box it covers (fractional pixels weighted).
    function resample(src, W, y0, x0, bh, bw, oh, ow) {
      function weights(n, o) {       // for each output index: [[source index, weight], ...]
        var r = n / o, out = [];
        for (var t = 0; t < o; t++) {
          var a = t * r, b = (t + 1) * r, list = [];
          for (var u = Math.floor(a); u < Math.min(n, Math.ceil(b)); u++) {
            var w = Math.min(b, u + 1) - Math.max(a, u);
            if (w > 0) list.push([u, w / r]);
          }
          out.push(list);
        }
        return out;
      }
      var wy = weights(bh, oh), wx = weights(bw, ow), rows = new Float64Array(bh * ow), out = new Float32Array(oh * ow);
      for (var y = 0; y < bh; y++)
        for (var x = 0; x < ow; x++) {
          var acc = 0;
          wx[x].forEach(function (p) { acc += p[1] * src[(y0 + y) * W + x0 + p[0]]; });
          rows[y * ow + x] = acc;
        }
      for (var yy = 0; yy < oh; yy++)
        for (var xx = 0; xx < ow; xx++) {
          var acc2 = 0;
          wy[yy].forEach(function (p) { acc2 += p[1] * rows[p[0] * ow + xx]; });
          out[yy * ow + xx] = acc2;
        }
      return out;
    }
    function run(g) {
      var r = forward(spec, state, tensor([1, 1, S, S], Float32Array.from(g)));
      return { logits: r.out, probs: softmax(r.out), acts: r.acts };
    }
    // Feature maps: the input, then every conv/pool output (after its activation) and each vector.
    var showAfter = [];
    spec.forEach(function (l, i) {
      var next = spec[i + 1];
      var isAct = function (t) { return t === "relu" || t === "tanh" || t === "sigmoid"; };
      if (l.type === "flatten") return;
      if ((l.type === "conv2d" || l.type === "linear") && next && isAct(next.type)) return;
      showAfter.push({ i: i, name: isAct(l.type) && i > 0 ? spec[i - 1].name + " + " + l.name : l.name });
    });
    var rows = [{ name: "input 28×28", canvases: null, i: -1 }].concat(showAfter);
    rows.forEach(function (r) {
      var box = el("div", { "class": "cl-maprow" }, mapsBox);
      r.label = el("div", { "class": "cl-maplabel" }, box, r.name);
      r.holder = el("div", { "class": "cl-mapimgs" }, box);
    });
    function showMaps(res, g) {
      rows.forEach(function (r) {
        var t = r.i < 0 ? tensor([1, 1, S, S], g) : res.acts[r.i];
        var maps = t.shape.length === 4 ? t.shape[1] : 1, H = t.shape.length === 4 ? t.shape[2] : 1,
            W = t.shape.length === 4 ? t.shape[3] : t.shape[1];
        var lim = range(t.data), span = Math.max(lim[1] - Math.min(0, lim[0]), 1e-6), lo = Math.min(0, lim[0]);
        if (!r.canvases) {
          r.canvases = [];
          var scale = t.shape.length === 4 ? Math.max(2, Math.floor(56 / H)) : Math.ceil(360 / W);
          for (var m = 0; m < maps; m++) {
            var c = el("canvas", { width: W * scale, height: H * scale, role: "img" }, r.holder);
            if (t.shape.length === 2) c.className = "cl-vector";
            c.scale = scale; r.canvases.push(c);
          }
          r.label.textContent = r.name + (t.shape.length === 4 ? ": " + maps + " map" + (maps > 1 ? "s" : "") + " " + H + "×" + W : ": " + W + " values");
        }
        r.canvases.forEach(function (c, m) {
          c.getContext("2d").putImageData(paint(c, t.data, H, W, c.scale, function (v) { return gray((v - lo) / span); }, [m * H * W, 0]), 0, 0);
          c.setAttribute("aria-label", r.name + (maps > 1 ? ", map " + (m + 1) : ""));
        });
      });
    }
    function predict() {
      var g = image28(), res = run(g), p = res.probs.data, best = 0;
      for (var k = 1; k < p.length; k++) if (p[k] > p[best]) best = k;
      bars.forEach(function (b, k) {
        b.fill.style.width = (100 * p[k]).toFixed(1) + "%";
        b.val.textContent = (100 * p[k]).toFixed(1) + " %";
        b.row.classList.toggle("cl-best", k === best);
        b.row.setAttribute("aria-label", classes[k] + " " + (100 * p[k]).toFixed(1) + " percent");
      });
      verdict.textContent = "LeNet-5 says: " + classes[best] + " (" + (100 * p[best]).toFixed(1) + " %)";
      lastImage = g;
      showMaps(res, g);
      api.last = { input: Array.from(g), logits: Array.from(res.logits.data), probs: Array.from(p), best: best };
    }
    var drawing = false, last = null, pending = false, cursor = [14, 14];
    function stroke(ev) {
      var r = pad.getBoundingClientRect();
      strokeTo((ev.clientX - r.left) / r.width * BIG, (ev.clientY - r.top) / r.height * BIG);
    }
    function strokeTo(x, y) {
      asLoaded = false;
      ctx.strokeStyle = "#fff"; ctx.fillStyle = "#fff"; ctx.lineCap = "round"; ctx.lineWidth = brush * Z * 2;
      ctx.beginPath();
      if (last) { ctx.moveTo(last[0], last[1]); ctx.lineTo(x, y); ctx.stroke(); }
      else { ctx.arc(x, y, brush * Z, 0, 2 * Math.PI); ctx.fill(); }
      last = [x, y];
      if (!pending) { pending = true; requestAnimationFrame(function () { pending = false; predict(); }); }
    }
    pad.addEventListener("pointerdown", function (ev) {
      drawing = true; last = null; ev.preventDefault();
      if (pad.setPointerCapture && ev.pointerId !== undefined) { try { pad.setPointerCapture(ev.pointerId); } catch (e) { /* synthetic */ } }
      stroke(ev);
    });
    pad.addEventListener("pointermove", function (ev) { if (drawing) stroke(ev); });
    ["pointerup", "pointercancel", "pointerleave"].forEach(function (t) {
      pad.addEventListener(t, function () { drawing = false; last = null; });
    });
    clear.addEventListener("click", function () { blank(); if (presetSel) presetSel.value = 0; predict(); });
    // The keyboard: a cursor on the 28x28 grid; Space/Enter paints a dot, Shift+arrow a line.
    function showCursor() {
      var d = 2 * brush / S * 100;
      cursorBox.style.width = cursorBox.style.height = d + "%";
      cursorBox.style.left = ((cursor[1] + 0.5) / S * 100 - d / 2) + "%";
      cursorBox.style.top = ((cursor[0] + 0.5) / S * 100 - d / 2) + "%";
    }
    pad.addEventListener("keydown", function (ev) {
      var move = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] }[ev.key];
      var centre = function () { return [(cursor[1] + 0.5) * Z, (cursor[0] + 0.5) * Z]; };
      if (move) {
        ev.preventDefault();
        if (ev.shiftKey) { last = centre(); }
        cursor = [clamp(cursor[0] + move[0], 0, S - 1), clamp(cursor[1] + move[1], 0, S - 1)];
        if (ev.shiftKey) { var c = centre(); strokeTo(c[0], c[1]); last = null; }
        showCursor();
      } else if (ev.key === " " || ev.key === "Enter" || ev.key === "Spacebar") {
        ev.preventDefault();
        last = null;
        var c2 = centre();
        strokeTo(c2[0], c2[1]);
        last = null;
      }
    });
    pad.addEventListener("focus", showCursor);
    var api = { predict: function (g) { var r = run(g); return { logits: Array.from(r.logits.data), probs: Array.from(r.probs.data),
                                                                  acts: r.acts.map(function (a) { return { shape: a.shape, data: Array.from(a.data) }; }) }; },
                last: null, brushSelect: brushSel, cursor: function () { return cursor.slice(); },
                // test hook: classify what the pad now shows as a drawing
                update: function () { asLoaded = false; predict(); return api.last; } };
    blank();
    if (presets) { presetSel.value = 1; load(presets.data.subarray(0, S * S)); }
    predict();
    return api;
  }

  // ---------------------------------------------------------------- c. receptive field
  // Every layer is treated as a window sum with unit weights (a linear stack): the gradient of
  // one output unit with respect to the input is then the number of paths from each input pixel
  // to the unit, obtained by back-projecting a one-hot map through the layers (transposed
  // window sums). Padding cells are dropped on the way back.
  function backProject(layers, sizes, unit) {
    var L = layers.length, H = sizes[L], g = new Float64Array(H * H);
    g[unit[0] * H + unit[1]] = 1;
    for (var l = L - 1; l >= 0; l--) {
      var k = layers[l][0], s = layers[l][1], p = layers[l][2], d = layers[l][3], Hi = sizes[l], Ho = sizes[l + 1];
      var gi = new Float64Array(Hi * Hi);
      for (var oy = 0; oy < Ho; oy++)
        for (var ox = 0; ox < Ho; ox++) {
          var v = g[oy * Ho + ox];
          if (!v) continue;
          for (var ky = 0; ky < k; ky++) {
            var iy = oy * s - p + ky * d;
            if (iy < 0 || iy >= Hi) continue;
            for (var kx = 0; kx < k; kx++) {
              var ix = ox * s - p + kx * d;
              if (ix >= 0 && ix < Hi) gi[iy * Hi + ix] += v;
            }
          }
        }
      g = gi;
    }
    return g;
  }
  function rfGeometry(layers) {   // size r, jump S, offset P (Araujo et al. 2019)
    var r = 1, S = 1, P = 0;
    layers.forEach(function (l) {
      var keff = l[3] * (l[0] - 1) + 1;
      r += (keff - 1) * S; P += l[2] * S; S *= l[1];
    });
    return { r: r, S: S, P: P };
  }
  function receptiveFieldExplorer(root, cfg) {
    var N = cfg.image.shape[0], img = decodeArray(cfg.image).data, CELL = 4, MAXL = cfg.max_layers;
    var layers = cfg.layers.map(function (l) { return l.slice(); }), sel = null;
    var controls = el("div", { "class": "cl-controls cl-rf-controls" }, root);
    var table = el("table", { "class": "cl-layers" }, controls);
    var cap = el("caption", {}, table, "Layers, input first (kernel, stride, padding, dilation)");
    var body = el("tbody", {}, table);
    var buttons = el("div", { "class": "cl-control" }, controls);
    var add = el("button", { type: "button" }, buttons, "Add a layer");
    var del = el("button", { type: "button" }, buttons, "Remove the last layer");
    var panels = el("div", { "class": "cl-panels" }, root);
    var p1 = el("figure", {}, panels), p2 = el("figure", {}, panels);
    var cin = el("canvas", { width: N * CELL, height: N * CELL, role: "img" }, p1);
    var cap1 = el("figcaption", {}, p1);
    var cout = el("canvas", { tabindex: "0", role: "img" }, p2);
    var cap2 = el("figcaption", {}, p2);
    var readout = el("div", { "class": "cl-readout" }, root);
    var say = announcer(root);
    var OPTIONS = { kernel: [1, 2, 3, 5, 7], stride: [1, 2, 3], padding: [0, 1, 2, 3, 4, 6, 8], dilation: [1, 2, 3, 4, 8] };
    function sizes() {
      var s = [N];
      for (var i = 0; i < layers.length; i++) s.push(outSize(s[i], layers[i][0], layers[i][1], layers[i][2], layers[i][3]));
      return s;
    }
    function buildTable() {
      body.textContent = "";
      var head = el("tr", {}, body);
      ["layer", "kernel", "stride", "padding", "dilation", "output"].forEach(function (h) { el("th", { scope: "col" }, head, h); });
      var sz = sizes();
      layers.forEach(function (l, i) {
        var tr = el("tr", {}, body);
        el("th", { scope: "row" }, tr, String(i + 1));
        ["kernel", "stride", "padding", "dilation"].forEach(function (name, j) {
          var td = el("td", {}, tr), s = el("select", { "aria-label": "layer " + (i + 1) + " " + name }, td);
          OPTIONS[name].forEach(function (v) { el("option", { value: v }, s, String(v)); });
          s.value = String(l[j]);
          s.addEventListener("change", function () {
            layers[i][j] = +s.value; refresh();
            var again = body.querySelector("select[aria-label='layer " + (i + 1) + " " + name + "']");
            if (again) again.focus();
            say("layer " + (i + 1) + " " + name + " " + s.value + "; " + summary());
          });
        });
        el("td", {}, tr, sz[i + 1] >= 1 ? sz[i + 1] + "×" + sz[i + 1] : "none");
      });
      add.disabled = layers.length >= MAXL; del.disabled = layers.length <= 1;
    }
    function refresh() { buildTable(); sel = null; draw(); }
    // focus stays on the button pressed, or moves to the other one when this one is now disabled
    add.addEventListener("click", function () {
      if (layers.length >= MAXL) return;
      layers.push([3, 1, 1, 1]); refresh(); (add.disabled ? del : add).focus();
      say(layers.length + " layers" + (add.disabled ? " (the most this explorer takes)" : "") + "; " + summary());
    });
    del.addEventListener("click", function () {
      if (layers.length <= 1) return;
      layers.pop(); refresh(); (del.disabled ? add : del).focus();
      say(layers.length + " layer" + (layers.length > 1 ? "s" : "") + "; " + summary());
    });
    function summary() {
      return api.last && erf ? "receptive field " + api.last.r + " by " + api.last.r : "no output";
    }
    var erf = null;
    function draw() {
      var sz = sizes(), Ho = sz[layers.length], ctx = cin.getContext("2d");
      if (!(Ho >= 1) || sz.some(function (v) { return !(v >= 1); })) {
        ctx.putImageData(paint(cin, img, N, N, CELL, gray), 0, 0);
        cout.width = cout.height = 1; erf = null;
        readout.textContent = "This stack leaves no output: a kernel is wider than its padded input. Remove a layer or shrink a kernel.";
        cap2.textContent = "";
        return;
      }
      if (!sel) sel = [Math.floor((Ho - 1) / 2), Math.floor((Ho - 1) / 2)];
      sel = [clamp(sel[0], 0, Ho - 1), clamp(sel[1], 0, Ho - 1)];
      erf = backProject(layers, sz, sel);
      var peak = 0, total = 0;
      for (var i = 0; i < erf.length; i++) { peak = Math.max(peak, erf[i]); total += erf[i]; }
      var geo = rfGeometry(layers);
      ctx.putImageData(paint(cin, img, N, N, CELL, function (v) { return gray(0.25 + 0.5 * v); }), 0, 0);
      var im = ctx.getImageData(0, 0, N * CELL, N * CELL);
      for (var y = 0; y < N * CELL; y++)
        for (var x = 0; x < N * CELL; x++) {
          var a = erf[Math.floor(y / CELL) * N + Math.floor(x / CELL)] / peak, q = 4 * (y * N * CELL + x);
          if (a > 0) { im.data[q] = im.data[q] * (1 - a) + 230 * a; im.data[q + 1] = im.data[q + 1] * (1 - a) + 40 * a; im.data[q + 2] *= (1 - a); }
        }
      ctx.putImageData(im, 0, 0);
      var y0 = sel[0] * geo.S - geo.P, x0 = sel[1] * geo.S - geo.P;
      ctx.strokeStyle = "#ff8c00"; ctx.lineWidth = 2;
      ctx.strokeRect(x0 * CELL, y0 * CELL, geo.r * CELL, geo.r * CELL);
      var scale = Math.max(2, Math.floor(N * CELL / Ho));
      cout.width = cout.height = Ho * scale;
      var octx = cout.getContext("2d");
      octx.fillStyle = "#dfe8f3"; octx.fillRect(0, 0, Ho * scale, Ho * scale);
      octx.strokeStyle = "#9fb3c8"; octx.lineWidth = 1;
      if (scale >= 6) for (var t = 0; t <= Ho; t++) {
        octx.beginPath(); octx.moveTo(t * scale + 0.5, 0); octx.lineTo(t * scale + 0.5, Ho * scale); octx.stroke();
        octx.beginPath(); octx.moveTo(0, t * scale + 0.5); octx.lineTo(Ho * scale, t * scale + 0.5); octx.stroke();
      }
      octx.fillStyle = "#ff8c00"; octx.fillRect(sel[1] * scale, sel[0] * scale, scale, scale);
      cout.setAttribute("aria-label", "output units " + Ho + " by " + Ho + "; selected row " + sel[0] + ", column " + sel[1] +
                        "; arrow keys move the selection");
      cin.setAttribute("aria-label", "input " + N + " by " + N + " with the receptive field (box) and the effective receptive field (red) of the selected unit");
      cap1.textContent = "input " + N + "×" + N + ": box = receptive field, red = gradient";
      cap2.textContent = "output " + Ho + "×" + Ho + ": click or use arrow keys";
      // share of the gradient in the central half (by width) of the field
      var c0 = y0 + geo.r / 4, c1 = y0 + 3 * geo.r / 4, d0 = x0 + geo.r / 4, d1 = x0 + 3 * geo.r / 4, inner = 0, touched = 0;
      for (var yy = 0; yy < N; yy++)
        for (var xx = 0; xx < N; xx++) {
          var v = erf[yy * N + xx];
          if (v > 0) touched++;
          if (yy + 0.5 > c0 && yy + 0.5 < c1 && xx + 0.5 > d0 && xx + 0.5 < d1) inner += v;
        }
      readout.textContent = "Unit (" + sel[0] + ", " + sel[1] + ") reads input rows " + y0 + " to " + (y0 + geo.r - 1) +
        " and columns " + x0 + " to " + (x0 + geo.r - 1) + ": a " + geo.r + "×" + geo.r + " field (jump " + geo.S +
        ")" + (y0 < 0 || x0 < 0 || y0 + geo.r > N || x0 + geo.r > N ? ", partly outside the image (padding)" : "") + ". " + touched + " input pixels carry gradient; the central half of the field holds " +
        (total ? (100 * inner / total).toFixed(0) : "0") + " % of it.";
      api.last = { sizes: sz, unit: sel.slice(), r: geo.r, S: geo.S, P: geo.P, erf: Array.from(erf) };
    }
    cout.addEventListener("pointerdown", function (ev) { var s = sizes(), H = s[layers.length]; if (H >= 1) { sel = cellAt(cout, ev, H, H); draw(); } });
    arrowKeys(cout, function () { return sel || [0, 0]; }, function (c) {
      sel = c; draw();
      if (api.last) say("unit " + api.last.unit[0] + ", " + api.last.unit[1]);
    });
    var api = { last: null, setLayers: function (ls) { layers = ls.map(function (l) { return l.slice(); }); refresh(); },
                select: function (c) { sel = c; draw(); } };
    refresh();
    return api;
  }

  // ---------------------------------------------------------------- mounting
  var KINDS = { convolution: convolutionExplorer, drawing: drawingExplorer, receptive_field: receptiveFieldExplorer };
  var instances = [];
  function failed(r, message) {
    var fallback = r.querySelector(".cl-fallback");
    if (fallback) fallback.textContent = "This explorer could not start: " + message;
  }
  function base64Buffer(text) {
    var bin = atob(text), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes.buffer;
  }
  // The bytes of an explorer's data file. A NAME.js file (cnnbook.live.data_script) is added by
  // <script src>, which works from file:// too, and leaves its base64 in cnnbookLiveData[NAME];
  // any other file is fetched.
  function loadBinary(url) {
    var m = /([A-Za-z0-9_-]+)\.js(\?.*)?$/.exec(url);
    if (!m) return fetch(url).then(function (resp) {
      if (!resp.ok) throw new Error("HTTP " + resp.status + " for " + url);
      return resp.arrayBuffer();
    });
    return new Promise(function (resolve, reject) {
      function take() {
        var text = (window.cnnbookLiveData || {})[m[1]];
        if (typeof text !== "string") return false;
        resolve(base64Buffer(text));
        return true;
      }
      if (take()) return;
      var s = document.createElement("script");
      s.src = url;
      s.onload = function () { if (!take()) reject(new Error(url + " holds no data named " + m[1])); };
      s.onerror = function () { reject(new Error(url + " did not load")); };
      document.head.appendChild(s);
    });
  }
  function mount(root) {
    var roots = root ? [root] : Array.prototype.slice.call(document.querySelectorAll(".cnnbook-live"));
    roots.forEach(function (r) {
      if (!r || !r.classList || !r.classList.contains("cnnbook-live") || r.cnnbookLive || r.cnnbookLiveStarting) return;
      r.cnnbookLiveStarting = true;
      var cfg = JSON.parse(r.querySelector("script[type='application/json']").textContent);
      if (!cfg.binary) { start(r, cfg); return; }
      // the rendered book: the large arrays are in a data file next to the page
      loadBinary(cfg.binary).then(function (buf) {
        attachBinary(cfg, buf);
        start(r, cfg);
      }).catch(function (e) {
        failed(r, "its data file " + cfg.binary + " did not load (" + e.message + ")");
        if (window.console) console.error(e);
      });
    });
  }
  function start(r, cfg) {
    {
      var body = el("div", { "class": "cl-body" }, r);
      var fallback = r.querySelector(".cl-fallback");
      if (fallback) fallback.remove();
      try {
        r.cnnbookLive = KINDS[r.getAttribute("data-kind")](body, cfg);
      } catch (e) {
        body.textContent = "This explorer could not start: " + e.message;
        throw e;
      }
      r.cnnbookLive.kind = r.getAttribute("data-kind");
      instances.push(r.cnnbookLive);
    }
  }
  window.cnnbookLive = {
    version: 1, tensor: tensor, decodeArray: decodeArray, decodeState: decodeState,
    attachBinary: attachBinary, conv2d: conv2d, maxPool2d: maxPool2d, avgPool2d: avgPool2d, linear: linear, relu: relu, tanh: tanh,
    sigmoid: sigmoid, flatten: flatten, softmax: softmax, forward: forward, backProject: backProject,
    rfGeometry: rfGeometry, mount: mount, instances: instances,
    // Test hook: runs a spec on plain arrays and returns plain arrays.
    run: function (spec, state, shape, data) {
      var r = forward(spec, decodeState(state), tensor(shape, Float32Array.from(data)));
      return { shape: r.out.shape, data: Array.from(r.out.data) };
    }
  };
  mount(document.currentScript && document.currentScript.parentNode);
  // explorers whose loader asked for this file before it arrived
  (window.cnnbookLivePending || []).splice(0).forEach(function (r) { mount(r); });
})();
