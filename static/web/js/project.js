/* A project's pages: the live deploy panels, the detection dialog, rollback confirmation and
 * revealing a variable. Everything here improves pages that already work without it (forms
 * post and redirect); log text goes in with textContent only (logs.js).
 */
(function () {
  "use strict";

  var PHASES = ["queued", "cloning", "building", "starting", "running"];
  var FINAL = { running: true, failed: true, cancelled: true, superseded: true };

  function fetchHtml(url) {
    return fetch(url, {
      credentials: "same-origin",
      headers: { "HX-Request": "true", Accept: "text/html" },
    }).then(function (response) {
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      return response.text();
    });
  }

  /* Our own server's rendered (escaped) template, parsed without running anything. */
  function parseFragment(html) {
    return new DOMParser().parseFromString(html, "text/html");
  }

  // ---- Deploy panels ------------------------------------------------------------------

  function formatElapsed(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 60) {
      return seconds + " s";
    }
    return Math.floor(seconds / 60) + " min " + (seconds % 60) + " s";
  }

  function setSteps(panel, status) {
    var reached = PHASES.indexOf(status);
    var steps = panel.querySelectorAll(".step");
    for (var i = 0; i < steps.length; i++) {
      var state = "todo";
      if (status === "running" || i < reached) {
        state = "done";
      } else if (i === reached) {
        state = "current";
      }
      if (reached < 0) {
        // failed/cancelled: the current step stopped there
        state = steps[i].classList.contains("step-current") ? "failed" : steps[i].classList.contains("step-done") ? "done" : "todo";
      }
      steps[i].className = "step step-" + state;
      var label = steps[i].querySelector("[data-role=step-state]");
      if (label) {
        label.textContent = " (" + { done: "done", current: "in progress", failed: "stopped here", todo: "to come" }[state] + ")";
      }
    }
  }

  function setBadge(panel, status) {
    var badge = panel.querySelector("[data-role=badge]");
    if (badge) {
      badge.className = "badge badge-" + status;
      badge.textContent = status;
    }
    panel.setAttribute("data-status", status);
  }

  function refreshComponents() {
    var slot = document.getElementById("components-slot");
    if (!slot) {
      return;
    }
    fetchHtml(window.location.pathname).then(function (html) {
      var fresh = parseFragment(html).getElementById("components-slot");
      if (fresh && fresh.innerHTML !== slot.innerHTML) {
        slot.innerHTML = fresh.innerHTML;
      }
    }).catch(function () {});
  }

  var livePanels = 0;

  function followPanel(panel) {
    var id = panel.getAttribute("data-deployment-id");
    var log = panel.querySelector("[data-role=log]");
    var elapsed = panel.querySelector("[data-role=elapsed]");
    var logStatus = panel.querySelector("[data-role=log-status]");
    var started = Date.parse(panel.getAttribute("data-started"));
    var finished = false;
    livePanels += 1;
    if (log) {
      log.scrollTop = log.scrollHeight;
    }
    var timer = window.setInterval(function () {
      if (!isNaN(started) && elapsed) {
        elapsed.textContent = formatElapsed((Date.now() - started) / 1000);
      }
    }, 1000);

    function finish() {
      if (finished) {
        return;
      }
      finished = true;
      window.clearInterval(timer);
      // The final state (URL, error, duration) as the server renders it.
      fetchHtml(panel.getAttribute("data-panel-url")).then(function (html) {
        var fresh = parseFragment(html).querySelector(".deploy-panel");
        if (fresh) {
          var freshLog = fresh.querySelector("[data-role=log]");
          panel.replaceWith(fresh);
          if (freshLog) {
            freshLog.scrollTop = freshLog.scrollHeight;
          }
        }
      }).catch(function () {}).then(function () {
        livePanels -= 1;
        if (livePanels === 0) {
          refreshComponents();
        }
      });
    }

    var stream = window.ButlerLive.open("/ws/deployments/" + encodeURIComponent(id) + "/", {
      resume: true,
      after: parseInt(panel.getAttribute("data-after") || "0", 10),
      onOpen: function () {
        if (logStatus) {
          logStatus.textContent = "";
        }
      },
      onMessage: function (message) {
        if (message.type === "log" && log) {
          window.ButlerLogs.appendLines(log, message.lines || []);
        } else if (message.type === "skipped" && log) {
          window.ButlerLogs.appendLines(log, [{ stream: "warning", text: "… " + message.count + " lines skipped" }]);
        } else if (message.type === "status") {
          setBadge(panel, message.status);
          setSteps(panel, message.status);
        }
      },
      onClose: function (event, info) {
        if (info.retrying) {
          if (logStatus) {
            logStatus.textContent = "Connection lost: reconnecting…";
          }
          return;
        }
        if (event.code === 1000 || FINAL[panel.getAttribute("data-status")]) {
          finish();
        } else if (logStatus) {
          logStatus.textContent = "The live log stopped: reload the page to see the latest.";
        }
      },
    });
    panel._stream = stream;
  }

  // ---- Detection dialog --------------------------------------------------------------

  function wireDetection() {
    var form = document.getElementById("deploy-form");
    var dialog = document.getElementById("detect-dialog");
    if (!form || !dialog) {
      return;
    }
    var body = document.getElementById("detect-dialog-body");
    var loading = body.innerHTML;
    form.addEventListener("submit", function (event) {
      var submitter = event.submitter;
      if (!submitter || submitter.name === "detect" || !submitter.hasAttribute("data-detect")) {
        return; // the dialog's own answer, or a deploy that needs no question
      }
      event.preventDefault();
      var params = new URLSearchParams(new FormData(form));
      params.delete("csrfmiddlewaretoken");
      params.set("action", submitter.value);
      body.innerHTML = loading;
      window.ButlerDialogs.open(dialog, submitter);
      fetchHtml(form.getAttribute("data-detect-url") + "?" + params.toString()).then(function (html) {
        if (!dialog.open) {
          return;
        }
        var doc = parseFragment(html);
        body.textContent = "";
        while (doc.body.firstChild) {
          body.appendChild(doc.body.firstChild);
        }
        var focus = body.querySelector("[autofocus]") || body.querySelector("button, [href]");
        if (focus) {
          focus.focus();
        }
      }).catch(function () {
        body.innerHTML = loading;
        var note = body.querySelector("[data-detect-loading]");
        if (note) {
          note.textContent = "The scan failed. Deploy without it, or add variables on the Environment Variables page.";
        }
      });
    });
  }

  // ---- Rollback confirmation, reveal ---------------------------------------------------

  document.addEventListener("click", function (event) {
    var rollback = event.target.closest("[data-rollback-url]");
    if (rollback) {
      var dialog = document.getElementById("rollback-dialog");
      if (dialog) {
        dialog.querySelector("[data-role=rollback-form]").setAttribute("action", rollback.getAttribute("data-rollback-url"));
        dialog.querySelector("[data-role=rollback-label]").textContent = rollback.getAttribute("data-rollback-label");
      }
      return;
    }
    var reveal = event.target.closest("[data-role=reveal]");
    if (reveal) {
      event.preventDefault();
      var cell = reveal.closest("td");
      var shown = cell.querySelector("[data-role=value]");
      if (reveal.getAttribute("aria-expanded") === "true") {
        shown.replaceWith(reveal._masked);
        reveal.setAttribute("aria-expanded", "false");
        reveal.firstChild.textContent = "Reveal";
        return;
      }
      fetchHtml(reveal.getAttribute("href")).then(function (html) {
        var fresh = parseFragment(html).querySelector("[data-role=value]");
        if (fresh) {
          reveal._masked = shown;
          shown.replaceWith(fresh);
          reveal.setAttribute("aria-expanded", "true");
          reveal.firstChild.textContent = "Hide";
        }
      }).catch(function () {
        if (window.ButlerToast) {
          window.ButlerToast.show("The value could not be read.", "error");
        }
      });
    }
  });

  function init() {
    var panels = document.querySelectorAll(".deploy-panel[data-finished='0']");
    for (var i = 0; i < panels.length; i++) {
      followPanel(panels[i]);
    }
    var logs = document.querySelectorAll(".deploy-panel [data-role=log]");
    for (var j = 0; j < logs.length; j++) {
      logs[j].scrollTop = logs[j].scrollHeight;
    }
    wireDetection();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
