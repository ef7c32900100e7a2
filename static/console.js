// postbote console: progressive enhancement only. Every page works without this file.
//
// The automatic-reply form: while one types, the preview beside it is rendered again by the
// server (POST to the section's data-preview URL with the form's fields, CSRF token included)
// and put in place. The server escapes everything; this file adds no markup of its own.
"use strict";
(function () {
  const form = document.getElementById("autoreply-form");
  const preview = document.getElementById("preview");
  if (!form || !preview || !preview.dataset.preview || !window.fetch) return;
  let timer = null;
  let asked = 0;
  const refresh = function () {
    const n = ++asked;
    const body = new URLSearchParams(new FormData(form));
    fetch(preview.dataset.preview, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: body,
    })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null || n !== asked) return;
        const old = document.getElementById("preview-body");
        const doc = new DOMParser().parseFromString(html, "text/html");
        const fresh = doc.getElementById("preview-body");
        if (old && fresh) old.replaceWith(document.importNode(fresh, true));
      })
      .catch(function () {});
  };
  const later = function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  };
  form.addEventListener("input", later);
  form.addEventListener("change", later);
})();
