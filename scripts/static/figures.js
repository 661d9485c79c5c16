// cnnbook: a figure shown smaller than its natural size (a phone) opens at natural size on a
// tap, in a box that scrolls sideways; a second tap, the close button or Escape closes it.
(function () {
  "use strict";
  function figures() {
    return document.querySelectorAll("div.cell_output img:not(.cnnbook-frame)");
  }
  // the width the figure is drawn for, in CSS px: Sphinx writes it as an inline style
  function naturalWidth(img) {
    return parseFloat(img.style.width) || parseFloat(img.getAttribute("width")) ||
      img.naturalWidth || 0;
  }
  function shrunk(img) {
    return img.clientWidth > 0 && img.clientWidth < naturalWidth(img) - 1;
  }
  function mark() {
    figures().forEach(function (img) {
      img.classList.toggle("cnnbook-zoomable", shrunk(img));
    });
  }
  function close() {
    var box = document.querySelector(".cnnbook-lightbox");
    if (box) box.remove();
  }
  function open(img) {
    close();
    var box = document.createElement("div");
    box.className = "cnnbook-lightbox";
    box.setAttribute("role", "dialog");
    box.setAttribute("aria-label", "Figure at full size");
    var button = document.createElement("button");
    button.className = "cnnbook-lightbox-close";
    button.type = "button";
    button.textContent = "Close";
    var big = document.createElement("img");
    big.src = img.currentSrc || img.src;
    big.alt = img.alt;
    big.style.width = naturalWidth(img) + "px";
    box.appendChild(button);
    box.appendChild(big);
    box.addEventListener("click", close);
    document.body.appendChild(box);
    button.focus();
  }
  document.addEventListener("click", function (event) {
    var img = event.target;
    if (img instanceof HTMLImageElement && img.matches("div.cell_output img:not(.cnnbook-frame)")
        && !img.closest(".cnnbook-lightbox") && shrunk(img)) {
      event.preventDefault();
      open(img);
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") close();
  });
  document.addEventListener("load", function (event) {   // lazy images, as they arrive
    if (event.target instanceof HTMLImageElement) mark();
  }, true);
  window.addEventListener("resize", mark);
  window.addEventListener("load", mark);
  document.addEventListener("DOMContentLoaded", mark);
})();
