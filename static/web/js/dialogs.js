/* Native <dialog>s and toasts.
 *
 * Any element with data-dialog-open="<id>" opens that <dialog> with showModal() (a link keeps
 * its href for when JavaScript is off); data-dialog-close closes the dialog it sits in (or the
 * one it names). Escape closes (the browser's own cancel). Focus moves into the dialog (its
 * [autofocus] element, else the first control) and returns to the opener on close; showModal()
 * with the keydown handler below keeps Tab inside.
 *
 * ButlerToast.show(text, kind) shows a toast (kind: success, error, info); toasts rendered by
 * the server (Django messages) go away by themselves too.
 */
(function () {
  "use strict";

  var TOAST_MS = 6000;

  function openDialog(dialog, opener) {
    if (!dialog || typeof dialog.showModal !== "function") {
      return false;
    }
    if (dialog.open) {
      return true;
    }
    dialog._opener = opener || document.activeElement;
    dialog.showModal();
    var target = dialog.querySelector("[autofocus]") ||
      dialog.querySelector("input:not([type=hidden]), select, textarea, button, [href]");
    if (target) {
      target.focus();
    }
    dialog.dispatchEvent(new CustomEvent("butler:dialog-open", { detail: { opener: opener } }));
    return true;
  }

  function closeDialog(dialog) {
    if (dialog && dialog.open) {
      dialog.close();
    }
  }

  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-dialog-open]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-dialog-open"));
      if (openDialog(dialog, opener)) {
        event.preventDefault();
      }
      return;
    }
    var closer = event.target.closest("[data-dialog-close]");
    if (closer) {
      var name = closer.getAttribute("data-dialog-close");
      var target = name ? document.getElementById(name) : closer.closest("dialog");
      if (target) {
        event.preventDefault();
        closeDialog(target);
      }
      return;
    }
    // A click on the backdrop (the dialog element itself, outside its content) closes it.
    if (event.target.tagName === "DIALOG" && event.target.open) {
      var box = event.target.getBoundingClientRect();
      var inside = event.clientX >= box.left && event.clientX <= box.right &&
        event.clientY >= box.top && event.clientY <= box.bottom;
      if (!inside) {
        closeDialog(event.target);
      }
    }
  });

  // showModal() makes the page behind inert, but Tab past the last control leaves the
  // document (to the browser's own UI): wrap it around inside the dialog instead.
  var FOCUSABLE = "a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), " +
    "select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Tab") {
      return;
    }
    var dialog = document.querySelector("dialog[open]:modal");
    if (!dialog) {
      return;
    }
    var items = Array.prototype.filter.call(dialog.querySelectorAll(FOCUSABLE), function (el) {
      return el.offsetParent !== null || el === document.activeElement;
    });
    if (!items.length) {
      return;
    }
    var first = items[0];
    var last = items[items.length - 1];
    var inside = dialog.contains(document.activeElement);
    if (event.shiftKey && (document.activeElement === first || !inside)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (document.activeElement === last || !inside)) {
      event.preventDefault();
      first.focus();
    }
  });

  // Focus goes back to whatever opened the dialog, however it was closed.
  document.addEventListener("close", function (event) {
    var dialog = event.target;
    if (dialog.tagName !== "DIALOG") {
      return;
    }
    var opener = dialog._opener;
    dialog._opener = null;
    if (opener && document.contains(opener) && typeof opener.focus === "function") {
      opener.focus();
    }
  }, true);

  function toastContainer() {
    var box = document.getElementById("toasts");
    if (!box) {
      box = document.createElement("div");
      box.id = "toasts";
      box.className = "toasts";
      box.setAttribute("aria-live", "polite");
      document.body.appendChild(box);
    }
    return box;
  }

  function dismissLater(toast) {
    window.setTimeout(function () {
      if (toast.parentNode) {
        toast.parentNode.removeChild(toast);
      }
    }, TOAST_MS);
  }

  function wireToast(toast) {
    var close = toast.querySelector("[data-toast-close]");
    if (close) {
      close.addEventListener("click", function () {
        toast.parentNode.removeChild(toast);
      });
    }
    dismissLater(toast);
  }

  function showToast(text, kind) {
    var level = ["success", "error", "info", "warning"].indexOf(kind) >= 0 ? kind : "info";
    var toast = document.createElement("div");
    toast.className = "toast toast-" + level;
    toast.setAttribute("role", level === "error" ? "alert" : "status");
    var span = document.createElement("span");
    span.className = "toast-text";
    span.textContent = text;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "dialog-x";
    close.setAttribute("data-toast-close", "");
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "\u00d7";
    toast.appendChild(span);
    toast.appendChild(close);
    toastContainer().appendChild(toast);
    wireToast(toast);
    return toast;
  }

  function init() {
    var toasts = document.querySelectorAll("#toasts .toast");
    for (var i = 0; i < toasts.length; i++) {
      wireToast(toasts[i]);
    }
    // A dialog the server rendered open (a form with errors, after a full-page post).
    var pending = document.querySelector("dialog[data-open-on-load]");
    if (pending) {
      if (pending.open) {
        pending.close(); // rendered open for when scripts are off: reopen it as a modal
      }
      openDialog(pending, document.querySelector('[data-dialog-open="' + pending.id + '"]'));
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }

  window.ButlerDialogs = { open: openDialog, close: closeDialog };
  window.ButlerToast = { show: showToast };
})();
