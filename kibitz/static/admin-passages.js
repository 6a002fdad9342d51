// Asking a question by selecting a passage of the article (the dashboard's inline feedback).
// The selection fills the form's passage field, with the passage's place in the article's
// normalised text (start, and 32 characters of context each side) computed as
// kibitz/anchoring.py does, so that a phrase that occurs twice is asked about where it was
// selected. Without this file the passage is typed into the field.
(function () {
  "use strict";
  var root = document.getElementById("article-text");
  var form = document.getElementById("ask-form");
  if (!root || !form) return;
  var exact = document.getElementById("ask-exact");
  var prefix = document.getElementById("ask-prefix");
  var suffix = document.getElementById("ask-suffix");
  var start = document.getElementById("ask-start");
  var question = document.getElementById("ask-question");
  var CONTEXT = 32;
  var BLOCK = /^(ADDRESS|ARTICLE|ASIDE|BLOCKQUOTE|BR|CAPTION|DD|DETAILS|DIV|DL|DT|FIGCAPTION|FIGURE|FOOTER|FORM|H[1-6]|HEADER|HR|LI|MAIN|NAV|OL|P|PRE|SECTION|SUMMARY|TABLE|TBODY|TD|TFOOT|TH|THEAD|TR|UL)$/;
  var SKIP = /^(SCRIPT|STYLE|TEMPLATE|NOSCRIPT)$/;
  var SPACE = /\s/;

  // The text of the article as pieces: [node, text] for text nodes, " " for block edges.
  function pieces(node, out) {
    for (var child = node.firstChild; child; child = child.nextSibling) {
      if (child.nodeType === 3) {
        out.push([child, child.data]);
      } else if (child.nodeType === 1) {
        if (SKIP.test(child.tagName) || child.hasAttribute("data-kibitz-ignore")) continue;
        var block = BLOCK.test(child.tagName);
        if (block) out.push(" ");
        pieces(child, out);
        if (block) out.push(" ");
      }
    }
    return out;
  }

  // Where the range starts and ends, as code-point offsets into the normalised text.
  function locate(range) {
    var raw = [];  // code points of the raw text, with the selection's edges marked
    var from = -1, to = -1;
    pieces(root, []).forEach(function (p) {
      if (typeof p === "string") { raw.push(p); return; }
      var node = p[0], units = p[1];
      var cut = function (unitOffset) {  // a UTF-16 offset in this node to a code point index
        return Array.from(units.slice(0, unitOffset).normalize("NFC")).length;
      };
      var chars = Array.from(units.normalize("NFC"));
      var s = node === range.startContainer ? cut(range.startOffset) : -1;
      var e = node === range.endContainer ? cut(range.endOffset) : -1;
      if (s >= 0) from = raw.length + s;
      if (e >= 0) to = raw.length + e;
      Array.prototype.push.apply(raw, chars);
    });
    if (from < 0 || to < 0) return null;
    // collapse whitespace as the server does, keeping track of the two edges
    var text = [], atFrom = -1, atTo = -1, space = false;
    for (var i = 0; i <= raw.length; i++) {
      if (i === from) atFrom = text.length + (space && text.length ? 1 : 0);
      if (i === to) atTo = text.length;
      if (i === raw.length) break;
      if (SPACE.test(raw[i])) { space = true; continue; }
      if (space && text.length) text.push(" ");
      space = false;
      text.push(raw[i]);
    }
    while (atTo > atFrom && text[atTo - 1] === " ") atTo--;
    while (atFrom < atTo && text[atFrom] === " ") atFrom++;
    if (atTo <= atFrom) return null;
    return {
      exact: text.slice(atFrom, atTo).join(""),
      prefix: text.slice(Math.max(0, atFrom - CONTEXT), atFrom).join(""),
      suffix: text.slice(atTo, atTo + CONTEXT).join(""),
      start: atFrom
    };
  }

  function chosen() {
    var sel = window.getSelection();
    if (!sel || sel.rangeCount === 0 || sel.isCollapsed) return;
    var range = sel.getRangeAt(0);
    if (!root.contains(range.startContainer) || !root.contains(range.endContainer)) return;
    // a selection that starts or ends on an element: down to its text nodes
    if (range.startContainer.nodeType !== 3 || range.endContainer.nodeType !== 3) return;
    var found = locate(range);
    if (!found) return;
    exact.value = found.exact;
    prefix.value = found.prefix;
    suffix.value = found.suffix;
    start.value = String(found.start);
    exact.setAttribute("data-selected", "true");
  }

  var timer = null;
  document.addEventListener("selectionchange", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(chosen, 150);
  });
  // a mouse selection ends with mouseup: ready to type the question
  root.addEventListener("mouseup", function () {
    window.setTimeout(function () {
      chosen();
      if (exact.getAttribute("data-selected") === "true" && question.value === "") question.focus();
    }, 0);
  });
  // typed by hand: its place is no longer the selection's
  exact.addEventListener("input", function () {
    prefix.value = suffix.value = start.value = "";
    exact.removeAttribute("data-selected");
  });
})();
