// The forgot-password page: sends the address to the JSON API and shows the
// same neutral confirmation whatever the answer says about the account.
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("config").textContent);
  var t = config.text;
  var form = document.getElementById("forgot-form");
  var email = document.getElementById("email");
  var error = document.getElementById("error");
  var submit = document.getElementById("submit");

  function say(message) {
    error.textContent = message;
    email.setAttribute("aria-invalid", message ? "true" : "false");
  }

  function sent() {
    document.getElementById("form").hidden = true;
    document.getElementById("sent").hidden = false;
    document.querySelector("#sent h1").focus();
  }

  function busy(on) {
    submit.disabled = on;
    submit.textContent = on ? t.working : submit.getAttribute("data-label");
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var address = email.value.trim();
    if (!/^[^\s@]+@[^\s@]+$/.test(address)) { say(t.emailInvalid); email.focus(); return; }
    say("");
    busy(true);
    fetch(config.api + "/user/reset", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email: address, language: config.lang }),
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
      if (answer.code === 40001) { say(answer.msg); return; }
      if (answer.code >= 50000) { say(t.failed.replace("{id}", answer.correlation_id || "-")); return; }
      // Success, and (when the server reveals account state) unknown, banned
      // or inactive addresses: the page says the same either way.
      sent();
    }).catch(function (failure) {
      busy(false);
      say(failure && failure.shown ? failure.shown : t.network);
    });
  });
})();
