/* cnnbook: the page's own behaviour, loaded on every page by scripts/cnnbook_sphinx.py.

   Sidebar buttons. The theme draws the "menu" (table of contents) and "page contents" buttons
   twice, once in the navbar (hidden in this layout) and once in the article header, but binds
   its click handlers to the first copy only, so the buttons a reader sees did nothing. Every
   other copy now forwards its click to the first one, which runs the theme's own code: below
   992 px it opens the sidebar as a dialog (Escape or a click outside closes it, and focus goes
   back to the button); from 992 px the menu button hides and shows the left sidebar. */
(function () {
  "use strict";
  function forwardToggles() {
    ["primary", "secondary"].forEach(function (side) {
      var all = document.querySelectorAll("." + side + "-toggle"), first = all[0];
      Array.prototype.slice.call(all, 1).forEach(function (button) {
        button.addEventListener("click", function (ev) {
          ev.preventDefault();
          ev.stopPropagation();
          first.click();
          var sidebar = document.getElementById("pst-" + side + "-sidebar");
          button.setAttribute("aria-expanded", String(!!sidebar && (side === "primary" &&
            window.matchMedia("(min-width: 992px)").matches
            ? !sidebar.classList.contains("pst-sidebar-hidden")
            : !!document.querySelector("#pst-" + side + "-sidebar-modal[open]"))));
        });
      });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", forwardToggles);
  else forwardToggles();
})();

/* Search results. Sphinx takes each snippet from the text of the page's main block, which here
   starts with the page's navigation ("Contents", the list of sections): that is left out, so
   a snippet shows the words around the match. A page opened from disk (file://) cannot read
   other pages, so there the results show without snippets instead of failing. */
(function () {
  "use strict";
  var NOT_TEXT = ".headerlink, script, style, nav, .header-article, .bd-sidebar-secondary, " +
    "#jb-print-docs-body, .onlyprint, .prev-next-area, .cnnbook-checks, .bd-footer-article, " +
    "#pst-skip-link, .skip-link";
  function patch() {
    if (typeof Search === "undefined" || !Search || Search.cnnbookPatched) return;
    Search.cnnbookPatched = true;
    Search.htmlToText = function (htmlString, anchor) {
      var doc = new DOMParser().parseFromString(htmlString, "text/html");
      doc.querySelectorAll(NOT_TEXT).forEach(function (e) { e.remove(); });
      var main = doc.querySelector("article.bd-article") || doc.querySelector('[role="main"]');
      if (!main) return "";
      var part = anchor ? main.querySelector(anchor) : null;
      return (part || main).textContent.replace(/\s+/g, " ");
    };
  }
  if (location.protocol === "file:" && window.fetch) {
    var realFetch = window.fetch.bind(window);
    window.fetch = function (url) {
      var href = typeof url === "string" ? url : (url && url.url) || "";
      if (/\.html(#|\?|$)/.test(href) && new URL(href, location.href).protocol === "file:")
        return Promise.resolve(new Response(""));     // no snippet: a page cannot read another
      return realFetch.apply(window, arguments);
    };
  }
  patch();
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", patch);
})();

/* Display equations on a narrow screen: one wider than the column is scaled down to fit (to at
   least 60 % of its size) instead of scrolling inside its box. */
(function () {
  "use strict";
  function fit() {
    document.querySelectorAll('mjx-container[display="true"]').forEach(function (m) {
      m.style.fontSize = "";
      for (var i = 0; i < 4 && m.scrollWidth > m.clientWidth + 1; i++) {
        var now = parseFloat(m.style.fontSize) || 100;
        var next = Math.max(60, Math.floor(now * m.clientWidth / m.scrollWidth));
        if (next >= now) break;
        m.style.fontSize = next + "%";
      }
    });
  }
  function whenTypeset() {
    var mj = window.MathJax;
    if (mj && mj.startup && mj.startup.promise) mj.startup.promise.then(fit);
  }
  var timer = null;
  window.addEventListener("resize", function () { clearTimeout(timer); timer = setTimeout(fit, 150); });
  if (document.readyState === "complete") whenTypeset();
  else window.addEventListener("load", whenTypeset);
})();

/* "What this page checks": a link to it (each mention of a hidden check) opens the block. */
(function () {
  "use strict";
  function open() {
    if (location.hash !== "#cnnbook-checks") return;
    var block = document.getElementById("cnnbook-checks");
    if (block) block.open = true;
  }
  window.addEventListener("hashchange", open);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", open);
  else open();
})();

/* Tables wider than the column scroll inside their own box. On a phone nothing shows that they
   do (scrollbars are hidden until touched), and a reader takes the cut-off table for the whole
   one. A box with more table to its right fades out at its right edge (more to its left: at its
   left edge), and the fade goes once the reader has scrolled to that end. The fade is a mask on
   the box, so it shows the page's own background in the light and the dark theme alike. */
(function () {
  "use strict";
  function boxOf(table) {
    for (var e = table.parentElement; e && e.tagName !== "ARTICLE"; e = e.parentElement) {
      var x = getComputedStyle(e).overflowX;
      if (x === "auto" || x === "scroll") return e;
    }
    return null;
  }
  function mark(box) {
    var more = box.scrollWidth - box.clientWidth;
    box.classList.toggle("cnnbook-more-right", more > 1 && box.scrollLeft < more - 1);
    box.classList.toggle("cnnbook-more-left", more > 1 && box.scrollLeft > 1);
  }
  var boxes = [];
  function setup() {
    document.querySelectorAll("article table").forEach(function (t) {
      var box = boxOf(t);
      if (!box || boxes.indexOf(box) >= 0) return;
      boxes.push(box);
      box.addEventListener("scroll", function () { mark(box); }, { passive: true });
    });
    boxes.forEach(mark);
  }
  var timer = null;
  window.addEventListener("resize", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { boxes.forEach(mark); }, 150);
  });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
  window.addEventListener("load", function () {          // fonts and MathJax change widths
    boxes.forEach(mark);
    var mj = window.MathJax;
    if (mj && mj.startup && mj.startup.promise)
      mj.startup.promise.then(function () { boxes.forEach(mark); });
  });
})();
