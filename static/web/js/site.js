/* The pages outside a project: the dashboard following ws/events/, the "+ New Deploy" form's
 * two kinds, the password strength hint, and the htmx-driven rename/delete dialogs. */
(function () {
  "use strict";

  function each(selector, fn, root) {
    var nodes = (root || document).querySelectorAll(selector);
    for (var i = 0; i < nodes.length; i++) {
      fn(nodes[i]);
    }
  }

  /* ---- Dashboard ---- */
  function setupDashboard() {
    var grid = document.getElementById("project-cards");
    if (!grid || !window.ButlerLive) {
      return;
    }
    var table = JSON.parse(grid.getAttribute("data-badges"));
    var empty = document.getElementById("empty-state");

    function card(id) {
      return id ? document.getElementById("project-" + id) : null;
    }

    function setBadge(node, text, cls) {
      var badge = node.querySelector("[data-status-badge]");
      if (!badge) {
        return;
      }
      badge.textContent = text;
      badge.className = "badge badge-" + cls;
    }

    var count = document.getElementById("project-count");

    function syncEmpty() {
      var n = grid.querySelectorAll(".project-card").length;
      var any = n > 0;
      if (count) {
        count.textContent = n + (n === 1 ? " project" : " projects");
      }
      grid.hidden = !any;
      if (empty) {
        empty.hidden = any;
      }
    }

    function removeCard(id) {
      var node = card(id);
      if (node) {
        node.parentNode.removeChild(node);
        syncEmpty();
      }
    }

    function fetchCard(id) {
      // A project this page has not shown (imported in another tab, by the CLI): ask for its card.
      if (!window.htmx || card(id)) {
        return;
      }
      window.htmx.ajax("GET", "/apps/" + id + "/card/", { target: grid, swap: "afterbegin" })
        .then(syncEmpty);
    }

    function onProjectStatus(message) {
      if (message.parent_id) {
        return; // a component: its parent's own event follows
      }
      var node = card(message.project_id);
      if (!node) {
        fetchCard(message.project_id);
        return;
      }
      var badge = table.project[message.status] || [message.status, "imported"];
      setBadge(node, badge[0], badge[1]);
      var open = node.querySelector("[data-open-site]");
      if (open) {
        var serving = table.serving.indexOf(message.status) >= 0 && message.deployed_url;
        if (message.deployed_url) {
          open.href = message.deployed_url;
        }
        open.hidden = !serving;
      }
    }

    var seenDeployments = {};

    function onDeploymentStatus(message) {
      var node = card(message.parent_id) || card(message.project_id);
      if (!node) {
        return;
      }
      if (!seenDeployments[message.deployment_id]) {
        // A deployment this page had not heard of: the project's latest.
        seenDeployments[message.deployment_id] = true;
        var when = node.querySelector("[data-last-deploy]");
        if (when) {
          when.textContent = "Last deploy just now";
        }
      }
      var phase = table.phase[message.status];
      if (phase) {
        setBadge(node, phase[0], phase[1]);
      }
    }

    window.ButlerLive.open(grid.getAttribute("data-live-events"), {
      onMessage: function (message) {
        if (message.type === "project.status") {
          onProjectStatus(message);
        } else if (message.type === "deployment.status") {
          onDeploymentStatus(message);
        } else if (message.type === "project.deleted") {
          removeCard(message.project_id);
        }
      },
    });

    document.body.addEventListener("butler:deleted", function (event) {
      removeCard(event.detail.id);
      window.ButlerDialogs.close(document.getElementById("delete-dialog"));
    });
    document.body.addEventListener("butler:renamed", function (event) {
      var node = card(event.detail.id);
      if (node) {
        each("[data-project-name]", function (el) { el.textContent = event.detail.name; }, node);
        each("[aria-label]", function (el) {
          var label = el.getAttribute("aria-label");
          el.setAttribute("aria-label", label.replace(/ \S+$/, " " + event.detail.name));
        }, node);
      }
      window.ButlerDialogs.close(document.getElementById("rename-dialog"));
    });
  }

  /* ---- New Deploy: show the fields of the chosen kind ---- */
  function setupNewDeploy() {
    var form = document.querySelector("form[data-new-deploy]");
    if (!form) {
      return;
    }
    function sync() {
      var checked = form.querySelector("input[name=kind]:checked");
      var kind = checked ? checked.value : "single";
      each("[data-kind-panel]", function (panel) {
        var on = panel.getAttribute("data-kind-panel") === kind;
        panel.hidden = !on;
        each("input", function (input) { input.disabled = !on; }, panel);
      }, form);
    }
    form.addEventListener("change", function (event) {
      if (event.target.name === "kind") {
        sync();
        var panel = form.querySelector("[data-kind-panel]:not([hidden]) input");
        if (panel) {
          panel.focus();
        }
      }
    });
    sync();
  }

  /* ---- Password strength: advice only, the server's validators decide ---- */
  function strength(value) {
    if (!value) {
      return "none";
    }
    var kinds = 0;
    [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].forEach(function (re) {
      if (re.test(value)) {
        kinds += 1;
      }
    });
    var unique = {};
    for (var i = 0; i < value.length; i++) {
      unique[value[i]] = true;
    }
    var distinct = Object.keys(unique).length;
    if (value.length < 8 || distinct < 4 || /^[0-9]+$/.test(value)) {
      return "weak";
    }
    if (value.length >= 14 && distinct >= 8 && kinds >= 2) {
      return "strong";
    }
    if (value.length >= 10 && kinds >= 3) {
      return "strong";
    }
    return "fair";
  }

  var STRENGTH_TEXT = {
    none: "At least 8 characters; longer is stronger.",
    weak: "Weak: too short or too simple.",
    fair: "Fair: longer, or mixed kinds of characters, would be stronger.",
    strong: "Strong.",
  };

  function setupStrength(root) {
    each("input[data-strength-meter]", function (input) {
      var meter = document.getElementById(input.getAttribute("data-strength-meter"));
      if (!meter || input._strengthWired) {
        return;
      }
      input._strengthWired = true;
      var text = meter.querySelector(".strength-text");
      function update() {
        var level = strength(input.value);
        meter.setAttribute("data-level", level);
        text.textContent = STRENGTH_TEXT[level];
        text.classList.toggle("muted", level === "none");
      }
      input.addEventListener("input", update);
      update();
    }, root);
  }

  /* ---- htmx glue ---- */
  document.addEventListener("butler:toast", function (event) {
    if (window.ButlerToast) {
      window.ButlerToast.show(event.detail.text, event.detail.kind);
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var dialog = event.target.closest && event.target.closest("dialog");
    if (dialog && dialog.open) {
      var focus = dialog.querySelector("[autofocus]") ||
        dialog.querySelector("input:not([type=hidden]), button.btn");
      if (focus) {
        focus.focus();
      }
    }
    setupStrength(event.target);
  });
  document.addEventListener("htmx:responseError", function (event) {
    if (window.ButlerToast) {
      var status = event.detail.xhr ? event.detail.xhr.status : 0;
      window.ButlerToast.show("That did not work (HTTP " + status + "). Reload and try again.", "error");
    }
  });

  function init() {
    setupDashboard();
    setupNewDeploy();
    setupStrength(document);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
