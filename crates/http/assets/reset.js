// The reset page: reads id and secret from the link, removes them from the
// address bar at once, and submits the new password to the JSON API.
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("config").textContent);
  var t = config.text;

  // Take the secret out of the address bar (and so out of history, bookmarks
  // and screenshots) before anything else; keep it in memory only.
  var params = new URLSearchParams(window.location.search);
  var id = params.get("id");
  var secret = params.get("secret");
  var kept = params.get("lang") ? "?lang=" + encodeURIComponent(params.get("lang")) : "";
  window.history.replaceState(null, "", window.location.pathname + kept);

  var sections = Array.prototype.slice.call(document.querySelectorAll("main > section"));
  function show(name) {
    sections.forEach(function (section) { section.hidden = section.id !== name; });
    var heading = document.querySelector("#" + name + " h1");
    if (heading && name !== "form") { heading.focus(); }
  }

  // Switching language reloads the page: carry the link along (replacing this
  // history entry, so the secret lands in history no more than it was).
  var switcher = document.querySelector(".lang a");
  if (switcher) {
    switcher.addEventListener("click", function (event) {
      if (!secret) { return; }
      event.preventDefault();
      var lang = new URL(switcher.href).searchParams.get("lang");
      window.location.replace(window.location.pathname + "?lang=" + encodeURIComponent(lang) +
        "&id=" + encodeURIComponent(id) + "&secret=" + encodeURIComponent(secret));
    });
  }

  if (!id || !/^[0-9A-Za-z]{1,32}$/.test(id) || !secret || !/^[0-9A-Za-z]{32}$/.test(secret)) {
    secret = null;
    show("invalid");
    return;
  }
  show("form");

  var form = document.getElementById("reset-form");
  var password = document.getElementById("password");
  var confirm = document.getElementById("confirm");
  var toggle = document.getElementById("show");
  var error = document.getElementById("error");
  var submit = document.getElementById("submit");
  var touched = false;

  function characters(s) { return Array.from(s).length; }
  function bytes(s) { return new TextEncoder().encode(s).length; }

  // The API's rules, checked as the person types.
  function problem(final) {
    var p = password.value;
    var n = characters(p);
    if (n < 6) { return final || n > 0 ? t.tooShort : ""; }
    if (n > 64) { return t.tooLong; }
    if (bytes(p) > 72) { return t.tooManyBytes; }
    if ((final || confirm.value.length > 0) && confirm.value !== p) { return t.mismatch; }
    return "";
  }

  function say(message) {
    error.textContent = message;
    var bad = message !== "";
    password.setAttribute("aria-invalid", bad && message !== t.mismatch ? "true" : "false");
    confirm.setAttribute("aria-invalid", bad && message === t.mismatch ? "true" : "false");
  }

  function check() {
    if (touched) { say(problem(false)); }
  }
  password.addEventListener("input", check);
  confirm.addEventListener("input", check);
  password.addEventListener("blur", function () { touched = password.value.length > 0; check(); });

  toggle.addEventListener("change", function () {
    var type = toggle.checked ? "text" : "password";
    password.type = type;
    confirm.type = type;
  });

  function busy(on) {
    submit.disabled = on;
    submit.textContent = on ? t.working : submit.getAttribute("data-label");
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    touched = true;
    var message = problem(true);
    say(message);
    if (message) { (message === t.mismatch ? confirm : password).focus(); return; }
    busy(true);
    fetch(config.api + "/user/reset/" + encodeURIComponent(id), {
      method: "PATCH",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ password: password.value, secret: secret }),
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer"
    }).then(function (response) {
      if (response.status === 429) {
        var wait = response.headers.get("Retry-After") || "60";
        throw { shown: t.rateLimited.replace("{seconds}", wait) };
      }
      return response.json();
    }).then(function (answer) {
      busy(false);
      switch (answer.code) {
        case 0:
          password.value = "";
          confirm.value = "";
          secret = null;
          show("done");
          break;
        case 40030:
          secret = null;
          show("expired");
          break;
        case 40021:
          say(t.inactive);
          break;
        case 40001:
          say(answer.msg);
          break;
        default:
          say(t.failed.replace("{id}", answer.correlation_id || "-"));
      }
    }).catch(function (failure) {
      busy(false);
      say(failure && failure.shown ? failure.shown : t.network);
    });
  });
})();
