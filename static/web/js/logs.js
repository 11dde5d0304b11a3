/* ButlerLogs: a live view of log lines, for the Logs page, the logs dialog and deploy logs.
 *
 * Log text is hostile: it is only ever set with textContent. ANSI SGR codes (30-37, 90-97,
 * 1 bold, 0/22/39 reset) become spans with classes (.ansi-31, .ansi-bold); every other escape
 * sequence is dropped, so no raw escape code is ever shown.
 *
 *   <div data-logview data-ws="/ws/projects/1/logs/?tail=200">  (templates/web/partials/project_logview.html)
 *   ButlerLogs.appendLine(pre, {stream, text})  // one line into a <pre>, colours parsed
 *
 * The logs dialog (#logs-dialog, templates/web/partials/logs_dialog.html) follows the project
 * named by its opener's data-logs-project (and data-logs-component), from open to close.
 */
(function () {
  "use strict";

  var MAX_LINES = 5000; // older lines are dropped from the page (not from the app)
  var BOTTOM_SLACK = 24; // px: "at the bottom" tolerance
  var ESCAPE = /\x1b\[([0-9;?]*)([ -\/]*)([@-~])|\x1b[@-Z\\-_]?/g;

  /* The text as segments [{text, classes}], SGR state carried across the line. */
  function parseAnsi(text) {
    var segments = [];
    var colour = null;
    var bold = false;
    var last = 0;
    var match;
    ESCAPE.lastIndex = 0;
    function push(piece) {
      if (!piece) {
        return;
      }
      var classes = [];
      if (colour) {
        classes.push("ansi-" + colour);
      }
      if (bold) {
        classes.push("ansi-bold");
      }
      segments.push({ text: piece, classes: classes });
    }
    while ((match = ESCAPE.exec(text)) !== null) {
      push(text.slice(last, match.index));
      last = ESCAPE.lastIndex;
      if (match[3] !== "m" || match[2]) {
        continue; // not SGR (cursor moves, erase...): dropped
      }
      var codes = (match[1] || "0").split(";");
      for (var i = 0; i < codes.length; i++) {
        var code = parseInt(codes[i] || "0", 10);
        if (code === 0) {
          colour = null;
          bold = false;
        } else if (code === 1) {
          bold = true;
        } else if (code === 22) {
          bold = false;
        } else if (code === 39) {
          colour = null;
        } else if ((code >= 30 && code <= 37) || (code >= 90 && code <= 97)) {
          colour = code;
        } else if (code === 38 || code === 48) {
          i += codes[i + 1] === "5" ? 2 : 4; // 256-colour/true-colour: skipped, not shown
        }
      }
    }
    push(text.slice(last));
    return segments;
  }

  /* Stray control characters (but tab) are not shown either. */
  function clean(text) {
    return String(text).replace(/[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f]/g, "");
  }

  function lineElement(line) {
    var span = document.createElement("span");
    span.className = "log-line log-" + String(line.stream || "system").replace(/[^a-z]/g, "");
    var segments = parseAnsi(clean(line.text || ""));
    for (var i = 0; i < segments.length; i++) {
      var segment = segments[i];
      if (segment.classes.length) {
        var part = document.createElement("span");
        part.className = segment.classes.join(" ");
        part.textContent = segment.text;
        span.appendChild(part);
      } else {
        span.appendChild(document.createTextNode(segment.text));
      }
    }
    span.appendChild(document.createTextNode("\n"));
    return span;
  }

  function atBottom(el) {
    return el.scrollHeight - el.scrollTop - el.clientHeight <= BOTTOM_SLACK;
  }

  function trim(el) {
    while (el.childNodes.length > MAX_LINES) {
      el.removeChild(el.firstChild);
    }
  }

  /* Lines into a <pre>, following the bottom only while the reader is there. */
  function appendLines(el, lines, onScrolledAway) {
    var follow = atBottom(el);
    var fragment = document.createDocumentFragment();
    for (var i = 0; i < lines.length; i++) {
      fragment.appendChild(lineElement(lines[i]));
    }
    el.appendChild(fragment);
    trim(el);
    if (follow) {
      el.scrollTop = el.scrollHeight;
    } else if (onScrolledAway) {
      onScrolledAway();
    }
  }

  function LogView(root) {
    this.root = root;
    this.lines = root.querySelector("[data-role=lines]");
    this.state = root.querySelector("[data-role=state]");
    this.ended = root.querySelector("[data-role=ended]");
    this.follow = root.querySelector("[data-role=follow]");
    this.pauseButton = root.querySelector("[data-role=pause]");
    this.paused = false;
    this.waiting = [];
    this.stream = null;
    var view = this;
    this.pauseButton.addEventListener("click", function () {
      view.setPaused(!view.paused);
    });
    root.querySelector("[data-role=clear]").addEventListener("click", function () {
      view.lines.textContent = "";
    });
    root.querySelector("[data-role=jump]").addEventListener("click", function () {
      view.lines.scrollTop = view.lines.scrollHeight;
      view.follow.hidden = true;
    });
    this.lines.addEventListener("scroll", function () {
      if (atBottom(view.lines)) {
        view.follow.hidden = true;
      }
    });
  }

  LogView.prototype.setState = function (text) {
    this.state.textContent = text;
  };

  LogView.prototype.setPaused = function (paused) {
    this.paused = paused;
    this.pauseButton.setAttribute("aria-pressed", paused ? "true" : "false");
    this.pauseButton.textContent = paused ? "Resume" : "Pause";
    if (!paused && this.waiting.length) {
      var waiting = this.waiting;
      this.waiting = [];
      this.add(waiting);
    }
    this.setState(paused ? "Paused: new lines wait" : this.live ? "Live" : this.state.textContent);
  };

  LogView.prototype.add = function (lines) {
    if (this.paused) {
      this.waiting = this.waiting.concat(lines).slice(-MAX_LINES);
      this.setState("Paused: " + this.waiting.length + " new line" + (this.waiting.length === 1 ? "" : "s") + " waiting");
      return;
    }
    var view = this;
    appendLines(this.lines, lines, function () {
      view.follow.hidden = false;
    });
  };

  LogView.prototype.start = function (path) {
    var view = this;
    this.stop();
    this.ended.hidden = true;
    this.ended.textContent = "";
    this.setState("Connecting…");
    this.stream = window.ButlerLive.open(path, {
      onOpen: function () {
        view.live = true;
        if (!view.paused) {
          view.setState("Live");
        }
      },
      onMessage: function (message) {
        if (message.type === "log" && message.lines) {
          view.add(message.lines);
        } else if (message.type === "skipped") {
          view.add([{ stream: "warning", text: "… " + message.count + " lines skipped (too fast to show)" }]);
        } else if (message.type === "end") {
          view.live = false;
          view.ended.textContent = "It stopped: " + (message.reason || "the container is not running.");
          view.ended.hidden = false;
          view.setState("Stopped");
          if (view.onEnd) {
            view.onEnd(message.reason);
          }
        }
      },
      onClose: function (event, info) {
        view.live = false;
        if (info.retrying) {
          view.setState("Reconnecting…");
        } else if (event.code === 4403 || event.code === 4401) {
          view.setState(event.code === 4401 ? "Signed out: log in again" : "Not available");
        } else if (view.ended.hidden) {
          view.setState("Stopped");
        }
      },
    });
  };

  LogView.prototype.stop = function () {
    if (this.stream) {
      this.stream.close();
      this.stream = null;
    }
    this.live = false;
  };

  function projectLogsPath(projectId, component) {
    var path = "/ws/projects/" + encodeURIComponent(projectId) + "/logs/?tail=200";
    return component ? path + "&component=" + encodeURIComponent(component) : path;
  }

  function wireDialog(dialog) {
    var root = dialog.querySelector("[data-logview]");
    if (!root) {
      return;
    }
    var view = new LogView(root);
    var chooser = dialog.querySelector("[data-role=components]");
    var current = { projectId: null, component: "" };

    function follow(component) {
      current.component = component || "";
      var page = dialog.querySelector("[data-role=logs-page]");
      if (page) {
        page.href = "/apps/" + encodeURIComponent(current.projectId) + "/logs/" + (current.component ? "?component=" + encodeURIComponent(current.component) : "");
      }
      if (chooser) {
        var buttons = chooser.querySelectorAll("[data-component]");
        for (var i = 0; i < buttons.length; i++) {
          buttons[i].setAttribute("aria-pressed", buttons[i].getAttribute("data-component") === current.component ? "true" : "false");
        }
      }
      view.lines.textContent = "";
      view.setPaused(false);
      view.start(projectLogsPath(current.projectId, current.component));
    }

    if (chooser) {
      chooser.addEventListener("click", function (event) {
        var button = event.target.closest("[data-component]");
        if (button) {
          follow(button.getAttribute("data-component"));
        }
      });
    }
    // A multi-repository project asked for without a component: the socket says so; offer both.
    view.onEnd = function (reason) {
      if (chooser && !current.component && /multi-repo/i.test(reason || "")) {
        chooser.hidden = false;
        view.ended.textContent = "Choose the frontend or the backend to follow its output.";
      }
    };

    dialog.addEventListener("butler:dialog-open", function (event) {
      var opener = (event.detail && event.detail.opener) || document.activeElement;
      var projectId = opener && opener.getAttribute("data-logs-project");
      if (!projectId) {
        return;
      }
      current.projectId = projectId;
      var title = opener.getAttribute("data-logs-title") || "";
      var label = dialog.querySelector("[data-role=logs-title]");
      if (label) {
        label.textContent = title ? " · " + title : "";
      }
      var split = opener.hasAttribute("data-logs-split");
      if (chooser) {
        chooser.hidden = !split;
      }
      follow(opener.getAttribute("data-logs-component") || (split ? "frontend" : ""));
    });
    dialog.addEventListener("close", function () {
      view.stop();
      view.setState("");
    });
  }

  function init() {
    var views = document.querySelectorAll("[data-logview][data-ws]");
    for (var i = 0; i < views.length; i++) {
      if (!views[i].closest("dialog")) {
        new LogView(views[i]).start(views[i].getAttribute("data-ws"));
      }
    }
    var dialog = document.getElementById("logs-dialog");
    if (dialog) {
      wireDialog(dialog);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }

  window.ButlerLogs = {
    parseAnsi: parseAnsi,
    lineElement: lineElement,
    appendLines: appendLines,
    atBottom: atBottom,
    LogView: LogView,
  };
})();
