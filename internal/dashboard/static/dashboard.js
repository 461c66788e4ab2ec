// Refreshes the page's content in place: asks this server for the same page's <main> every
// few seconds (the X-Ampora-Fragment header) and swaps it in when it changed. The HTML is
// rendered and escaped by the server; nothing here builds markup from data.
(function () {
  "use strict";
  var main = document.getElementById("main");
  var live = document.getElementById("live");
  if (!main || !window.fetch) {
    return;
  }
  var every = parseInt(main.getAttribute("data-refresh"), 10) || 2000;
  var last = null;
  var inflight = false;

  function show(state, text) {
    if (live) {
      live.setAttribute("data-state", state);
      live.textContent = text;
    }
  }

  function tick() {
    if (inflight || document.hidden) {
      return;
    }
    inflight = true;
    fetch(location.pathname + location.search, {
      headers: { "X-Ampora-Fragment": "1" },
      cache: "no-store",
      credentials: "same-origin",
      redirect: "error"
    }).then(function (resp) {
      if (resp.status === 403) {
        // The cookie is gone or from an earlier run: only the printed address sets it again.
        throw new Error("no access token: open the address the dashboard printed");
      }
      var type = resp.headers.get("Content-Type") || "";
      if (type.indexOf("text/html") !== 0) {
        throw new Error("unexpected answer " + resp.status);
      }
      return resp.text().then(function (html) {
        if (html !== last) {
          main.innerHTML = html;
          last = html;
        }
        if (resp.ok) {
          show("ok", "live · " + new Date().toLocaleTimeString());
        } else {
          show("error", "live · " + resp.status);
        }
      });
    }).catch(function (err) {
      show("error", "not updating: " + err.message);
    }).then(function () {
      inflight = false;
    });
  }

  show("ok", "live");
  setInterval(tick, every);
  document.addEventListener("visibilitychange", tick);
})();
