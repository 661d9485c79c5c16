#!/usr/bin/env bash
# Install the book's JavaScript from npm (versions pinned in package-lock.json) and copy
# what the rendered pages load into assets/ (git-ignored), which _config.yml adds to
# html_static_path. Nothing is fetched by the pages themselves: after this, the book is
# fully self-contained.
#
#   assets/mathjax/                      MathJax 3 (es5 build, CHTML output, local fonts)
#   assets/widgets/require.js            RequireJS, which the ipywidgets HTML manager needs
#   assets/widgets/widgets-config.js     points RequireJS and the widget fonts at this copy
#   assets/widgets/html-manager/dist/    @jupyter-widgets/html-manager (embed-amd.js + fonts)
#   assets/favicon.svg                   the book's icon
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
fi

rm -rf assets
mkdir -p assets/widgets/html-manager

# MathJax: the es5 tree minus the bundles the book does not load (SVG output, "full" builds).
cp -r node_modules/mathjax/es5 assets/mathjax
rm -f assets/mathjax/{tex-svg,tex-svg-full,tex-mml-svg,mml-svg,tex-chtml-full,tex-chtml-full-speech,node-main}.js
rm -rf assets/mathjax/output/svg

cp node_modules/requirejs/require.js assets/widgets/require.js

# The HTML manager bundle (all of @jupyter-widgets/base, controls and output) and its
# Font Awesome files, which webpack resolves relative to the public path set below.
mkdir -p assets/widgets/html-manager/dist
find node_modules/@jupyter-widgets/html-manager/dist -maxdepth 1 -type f \
    \( -name 'embed-amd.js' -o -name '*.woff2' -o -name '*.woff' -o -name '*.ttf' \
       -o -name '*.eot' -o -name '*.svg' \) -exec cp {} assets/widgets/html-manager/dist/ \;

cat > assets/widgets/widgets-config.js <<'JS'
// Makes the ipywidgets HTML manager load everything from the book's own _static/ folder.
// Loaded after require.js and before embed-amd.js on pages that contain widgets.
(function () {
  var script = document.currentScript;
  var src = script.src.split("?")[0];
  var base = src.slice(0, src.lastIndexOf("/") + 1);  // .../_static/widgets/
  var dist = base + "html-manager/dist";
  // Webpack's public path for the Font Awesome files bundled in embed-amd.js.
  window.__jupyter_widgets_assets_path__ = dist + "/";
  // The bundle derives the same path from its module URI, which RequireJS builds from here.
  window.require.config({ paths: { "@jupyter-widgets/html-manager/dist": dist } });
  // Any widget module not in the bundle is looked up locally (and fails) instead of on a CDN.
  script.setAttribute("data-jupyter-widgets-cdn", base + "modules/");
  // ipywidgets typesets widget descriptions through MathJax 2's MathJax.Hub.Queue, which
  // MathJax 3 (the book's) lacks. The widgets render on "load"; this listener, added first,
  // runs before them and gives MathJax 3 the one call they make.
  window.addEventListener("load", function () {
    var mj = window.MathJax;
    if (!mj || mj.Hub || typeof mj.typesetPromise !== "function") { return; }
    mj.Hub = {
      Queue: function (job) {
        var element = job && job[2];
        if (!element) { return; }
        mj.startup.promise.then(function () { return mj.typesetPromise([element]); })
          .catch(function (err) { console.warn("MathJax could not typeset a widget label", err); });
      }
    };
  });
})();
JS

# A small favicon (a 3x3 kernel), so that browsers do not ask the server for /favicon.ico.
cat > assets/favicon.svg <<'SVG'
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 30 30"><rect width="30" height="30" rx="3" fill="#1f3b57"/><g fill="#8fc1e3"><rect x="3" y="3" width="7" height="7"/><rect x="11.5" y="11.5" width="7" height="7"/><rect x="20" y="20" width="7" height="7"/></g><g fill="#4f7da3"><rect x="11.5" y="3" width="7" height="7"/><rect x="20" y="3" width="7" height="7"/><rect x="3" y="11.5" width="7" height="7"/><rect x="20" y="11.5" width="7" height="7"/><rect x="3" y="20" width="7" height="7"/><rect x="11.5" y="20" width="7" height="7"/></g></svg>
SVG

echo "assets: $(du -sh assets | cut -f1) in $(find assets -type f | wc -l) files"
