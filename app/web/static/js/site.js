// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  // dateStyle/timeStyle cannot be combined with timeZoneName (a TypeError), so the
  // parts are spelled out.
  var TIME_FORMAT = {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", timeZoneName: "short"
  };

  function localiseTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) return;
      try {
        el.textContent = when.toLocaleString(undefined, TIME_FORMAT);
      } catch (e) {
        // Keep the server's UTC text.
      }
    });
  }

  function renderProblems(box, title, problems, ok) {
    box.replaceChildren();
    var wrap = document.createElement("div");
    wrap.className = ok ? "notice" : "problems";
    wrap.setAttribute("data-testid", ok ? "precheck-ok" : "problems");
    var strong = document.createElement("strong");
    strong.textContent = title;
    wrap.appendChild(strong);
    if (problems.length) {
      var list = document.createElement("ul");
      problems.forEach(function (text) {
        var item = document.createElement("li");
        item.textContent = text;
        list.appendChild(item);
      });
      wrap.appendChild(list);
    }
    box.appendChild(wrap);
  }

  function send(form, url, onDone) {
    var data = new FormData(form);
    var xhr = new XMLHttpRequest();
    var bar = document.getElementById("upload-progress");
    xhr.open("POST", url);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRF-Token", form.querySelector("[name=csrf_token]").value);
    if (bar) {
      bar.hidden = false;
      bar.value = 0;
      xhr.upload.onprogress = function (event) {
        if (event.lengthComputable) bar.value = Math.round(100 * event.loaded / event.total);
      };
    }
    xhr.onload = function () {
      if (bar) bar.hidden = true;
      var body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = {detail: xhr.statusText}; }
      onDone(xhr.status, body);
    };
    xhr.onerror = function () {
      if (bar) bar.hidden = true;
      onDone(0, {detail: "The upload was interrupted; check your connection and try again."});
    };
    xhr.send(data);
  }

  function errorLines(body) {
    if (body.errors) {
      var lines = [];
      Object.keys(body.errors).forEach(function (field) {
        String(body.errors[field]).split("\n").forEach(function (line) { lines.push(line); });
      });
      return lines;
    }
    return [body.detail || "The server could not accept this upload."];
  }

  function setUpSubmitForm(form) {
    var input = form.querySelector("input[type=file]");
    var zone = document.getElementById("dropzone");
    var name = document.getElementById("file-name");
    var result = document.getElementById("precheck-result");
    var submitButton = document.getElementById("submit-button");
    var showName = function () {
      name.textContent = input.files.length ? input.files[0].name + " (" + Math.ceil(input.files[0].size / 1024) + " KB)" : "";
    };
    input.addEventListener("change", showName);
    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (event) { event.preventDefault(); zone.classList.add("dragging"); });
    });
    ["dragleave", "drop"].forEach(function (type) {
      zone.addEventListener(type, function () { zone.classList.remove("dragging"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      if (event.dataTransfer.files.length) { input.files = event.dataTransfer.files; showName(); }
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!input.files.length) { renderProblems(result, "Choose a .zip file first.", [], false); return; }
      submitButton.setAttribute("aria-busy", "true");
      submitButton.disabled = true;
      send(form, form.action, function (status, body) {
        if (status >= 200 && status < 300 && body.url) { window.location.assign(body.url); return; }
        submitButton.removeAttribute("aria-busy");
        submitButton.disabled = false;
        var title = status === 429 ? "Submission limit reached." : "The archive was not accepted:";
        renderProblems(result, title, errorLines(body), false);
      });
    });
    document.getElementById("precheck-button").addEventListener("click", function () {
      if (!input.files.length) { renderProblems(result, "Choose a .zip file first.", [], false); return; }
      send(form, form.dataset.precheck, function (status, body) {
        if (status === 200 && body.ok) {
          renderProblems(result, "Looks good: all " + body.images + " masks are present with the right sizes.", [], true);
        } else if (status === 200) {
          renderProblems(result, "Problems found (nothing was submitted):", body.problems.map(function (p) {
            return p.entry ? p.entry + ": " + p.message : p.message;
          }), false);
        } else {
          renderProblems(result, "The check failed:", errorLines(body), false);
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    localiseTimes(document);
    var form = document.getElementById("submit-form");
    if (form) setUpSubmitForm(form);
  });
  document.addEventListener("htmx:afterSwap", function (event) { localiseTimes(event.target); });
})();
