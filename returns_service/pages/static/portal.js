// Follows a return while it is in flight: every few seconds it reads the page again and, when the
// return has moved on, shows the new state in place (the status is a polite live region). The page
// works without it: a reload shows the same.
document.documentElement.classList.add("js");

// Times are written in the reader's time zone: the browser's, kept in a cookie the server reads
// (until it is there, they are in UTC and say so).
(function () {
  "use strict";
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (e) {
    return;
  }
  if (zone && /^[A-Za-z0-9_+\/-]{1,64}$/.test(zone) && document.cookie.indexOf("returns_tz=" + zone) === -1) {
    document.cookie = "returns_tz=" + zone + "; path=/; max-age=31536000; samesite=lax";
  }
})();

// The estimated refund follows the choice as it changes (the server reckons it, with the same
// code as the return's workflow); without the script, "Update estimate" does the same.
(function () {
  "use strict";
  var form = document.querySelector("form.new-return");
  if (!form || !window.fetch || !window.FormData) {
    return;
  }
  var pending = null;
  function update() {
    var body = new FormData(form);
    var asked = pending = {};
    fetch(form.getAttribute("data-estimate"), { method: "POST", body: body, credentials: "same-origin" })
      .then(function (answer) {
        return answer.ok ? answer.text() : null;
      })
      .then(function (html) {
        if (html === null || asked !== pending) {
          return;
        }
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("#estimate");
        var shown = document.getElementById("estimate");
        if (fresh && shown) {
          shown.innerHTML = fresh.innerHTML;
        }
      })
      .catch(function () {});
  }
  form.addEventListener("change", function (event) {
    var name = event.target && event.target.name;
    if (name && (name.indexOf("quantity:") === 0 || name === "method")) {
      update();
    }
  });
})();

// The new-return form shows what it needs: an item's reason, comment and photos once its
// quantity is above 0, and each item's "What would you like instead?" once an exchange is chosen. A part
// holding a refused field stays open; without the script every field shows.
(function () {
  "use strict";
  var form = document.querySelector("form.new-return");
  if (!form) {
    return;
  }
  function refused(part) {
    return part.querySelector("[aria-invalid='true']") !== null;
  }
  function sync() {
    var parts = form.querySelectorAll(".item-details[data-quantity]");
    for (var i = 0; i < parts.length; i++) {
      var quantity = document.getElementById(parts[i].getAttribute("data-quantity"));
      parts[i].hidden = quantity !== null && quantity.value === "0" && !refused(parts[i]);
    }
    var chosen = form.querySelector("input[name='method']:checked");
    var exchange = chosen !== null && chosen.value === "exchange";
    var insteads = form.querySelectorAll(".instead-field");
    for (var j = 0; j < insteads.length; j++) {
      insteads[j].hidden = !exchange && !refused(insteads[j]);
    }
  }
  form.addEventListener("change", sync);
  sync();
})();

(function () {
  "use strict";
  var main = document.querySelector("main[data-version]");
  if (!main || !window.fetch || !window.DOMParser) {
    return;
  }
  var every = 4000;
  function check() {
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (answer) {
        return answer.ok ? answer.text() : null;
      })
      .then(function (html) {
        if (html === null) {
          window.setTimeout(check, every * 3);
          return;
        }
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("main");
        if (fresh && fresh.getAttribute("data-version") !== main.getAttribute("data-version")) {
          main.innerHTML = fresh.innerHTML;
          main.setAttribute("data-version", fresh.getAttribute("data-version") || "");
          if (!fresh.hasAttribute("data-follow")) {
            return; // finished: nothing more will change
          }
        }
        window.setTimeout(check, every);
      })
      .catch(function () {
        window.setTimeout(check, every * 3);
      });
  }
  if (main.hasAttribute("data-follow")) {
    window.setTimeout(check, every);
  }
})();
