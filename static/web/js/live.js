/* ButlerLive: WebSockets to Butler's live streams (docs/api.md, "Live streams").
 *
 *   var stream = ButlerLive.open("/ws/events/", {
 *     onMessage: function (message) {},   // each JSON message
 *     onOpen: function () {},             // every (re)connection
 *     onClose: function (event, info) {}, // info.retrying: whether it reconnects
 *     resume: true,                       // track log lines' seq, reconnect with ?after=<seq>
 *     after: 0,                           // the seq already shown (with resume)
 *   });
 *   stream.close();
 *
 * The session cookie signs the socket in (no token in the URL). A dropped socket reconnects
 * with exponential backoff; it stops on 1000 (the stream ended), 4401 (signed out), 4403 (not
 * yours), 1008 (policy), on an {"type": "end"} message, and on close().
 */
(function () {
  "use strict";

  var FINAL_CODES = { 1000: true, 1008: true, 4401: true, 4403: true };
  var BASE_DELAY = 500;
  var MAX_DELAY = 15000;

  function socketUrl(path, after) {
    var url = new URL(path, window.location.href);
    url.protocol = window.location.protocol === "https:" ? "wss:" : "ws:";
    if (after !== null && after !== undefined) {
      url.searchParams.set("after", String(after));
    }
    return url.toString();
  }

  function open(path, options) {
    var opts = options || {};
    var lastSeq = opts.resume && typeof opts.after === "number" ? opts.after : null;
    var attempt = 0;
    var socket = null;
    var timer = null;
    var stopped = false;
    var ended = false;

    function noteSeq(message) {
      if (!opts.resume || !message || message.type !== "log" || !message.lines) {
        return;
      }
      for (var i = 0; i < message.lines.length; i++) {
        var seq = message.lines[i].seq;
        if (typeof seq === "number" && (lastSeq === null || seq > lastSeq)) {
          lastSeq = seq;
        }
      }
    }

    function connect() {
      timer = null;
      socket = new WebSocket(socketUrl(path, opts.resume ? lastSeq : null));
      socket.addEventListener("open", function () {
        attempt = 0;
        if (opts.onOpen) {
          opts.onOpen();
        }
      });
      socket.addEventListener("message", function (event) {
        var message;
        try {
          message = JSON.parse(event.data);
        } catch (err) {
          return;
        }
        noteSeq(message);
        if (message && message.type === "end") {
          ended = true;
        }
        if (opts.onMessage) {
          opts.onMessage(message);
        }
      });
      socket.addEventListener("close", function (event) {
        var retrying = !stopped && !ended && !FINAL_CODES[event.code];
        if (opts.onClose) {
          opts.onClose(event, { retrying: retrying });
        }
        if (retrying) {
          var delay = Math.min(MAX_DELAY, BASE_DELAY * Math.pow(2, attempt));
          attempt += 1;
          timer = window.setTimeout(connect, delay * (0.75 + Math.random() * 0.5));
        }
      });
    }

    connect();

    return {
      close: function () {
        stopped = true;
        if (timer) {
          window.clearTimeout(timer);
          timer = null;
        }
        if (socket && socket.readyState <= 1) {
          socket.close(1000);
        }
      },
      lastSeq: function () {
        return lastSeq;
      },
    };
  }

  window.ButlerLive = { open: open };
})();
