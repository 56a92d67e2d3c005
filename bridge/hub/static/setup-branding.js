// Company & branding: keep the colour picker and the hex field in step, and
// paint the invoice header preview as the colour changes (before saving).
(function () {
  "use strict";
  var HEX = /^#[0-9a-fA-F]{6}$/;

  function textOn(hex) {
    // Black or white, whichever reads better (WCAG relative luminance), as
    // the server chooses it.
    function channel(i) {
      var v = parseInt(hex.substr(i, 2), 16) / 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    }
    var luminance = 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
    return luminance < 0.179 ? "#ffffff" : "#111827";
  }

  function start() {
    var picker = document.getElementById("brand_color_picker");
    var text = document.getElementById("brand_color");
    var preview = document.getElementById("invoice-preview");
    if (!picker || !text || !preview) {
      return;
    }
    function paint(hex) {
      preview.style.setProperty("--preview-brand", hex);
      preview.style.setProperty("--preview-text", textOn(hex));
    }
    picker.addEventListener("input", function () {
      text.value = picker.value;
      paint(picker.value);
    });
    text.addEventListener("input", function () {
      var value = text.value.trim();
      if (HEX.test(value)) {
        picker.value = value.toLowerCase();
        paint(value);
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
