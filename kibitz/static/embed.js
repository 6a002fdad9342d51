/* kibitz embed: the discussion widget. No framework, no third-party requests, no tracking.
 * <script src="https://kibitz.example.org/embed.js" data-kibitz-thread="/2021/06/article" async>
 * Renders into #kibitz-thread (else right after this tag) inside a shadow root, styled only by
 * embed.css from the same origin, so it works under a strict Content-Security-Policy.
 * Optional: data-kibitz-title, data-kibitz-url, data-kibitz-bubble-delay (ms, default 8000),
 * data-kibitz-bubble="off". kibitz serves this file minified; keep the source readable.
 *
 * The widget is a set of sections that meet through a few events, so a new feature is one
 * more section that listens (a funding bar, passage comments, live updates, reporting):
 *   ui (section)         the discussion is built; add to it
 *   form (f, kind)       a comment form was made, kind "new" | "reply" | "edit"; a section may
 *                        add controls and push functions onto f.extra that add to the request
 *   comment (art, c)     a comment was drawn; art.acts is its row of actions
 *   page (data)          a page of the thread arrived and is shown
 *   count (n)            the number of comments changed
 *   me (m)               the reader's own state arrived (GET /api/v1/me)
 *   ban (message)        the reader may not post
 *   fresh (n)            n new comments are waiting to be shown (live updates)
 * Optional: data-kibitz-article="CSS selector" names the article, for inline feedback;
 * data-kibitz-campaign="slug" shows that campaign's funding bar ("" the featured one) in
 * #kibitz-funding, else above the discussion; data-kibitz-discussion="off" shows only the bar;
 * data-kibitz-live="off" stops live updates; data-kibitz-poll (seconds, default 30) is how
 * often to ask for changes where the event stream cannot be used. */
(() => {
  "use strict";
  const me = document.currentScript || document.querySelector("script[data-kibitz-thread]");
  if (!me || me.kibitz) return;
  me.kibitz = 1;
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => widget(me));
  else widget(me);

  function widget(me) {
    /* -- configuration */
    const ds = me.dataset;
    const API = new URL(me.src, location.href).origin;
    const KEY = ds.kibitzThread || location.pathname;
    const PAGE = ds.kibitzUrl || location.href.split("#")[0];
    const MAXD = 3; // replies nest under comments at most this deep (display depth 5)
    const SORTS = { newest: "Newest", oldest: "Oldest", most_voted: "Most Voted", best: "Best" };
    const S = {
      prompt: "Would love your thoughts, please comment.",
      help: "Markdown works: *italic*, **bold**, [links](https://example.org), > quotes. " +
        "Your e-mail is never shown.",
      posted: "Comment posted.",
      held: "Thanks! Your comment is awaiting moderation.",
      net: "Could not reach the discussion server. Please try again.",
      mail: " Notifications go to your e-mail (a new address gets a mail to confirm it first).",
    };

    const bus = {};
    const on = (ev, fn) => (bus[ev] = bus[ev] || []).push(fn);
    const emit = (ev, ...args) => (bus[ev] || []).forEach((fn) => fn(...args));

    /* -- helpers: text always goes in as text, never as markup */
    const h = (tag, props, ...kids) => {
      const el = document.createElement(tag);
      for (const k in props || {}) {
        const v = props[k];
        if (v == null || v === false) continue;
        if (k === "class") el.className = v;
        else if (k === "text") el.textContent = v;
        else if (k[0] === "o" && k[1] === "n") el.addEventListener(k.slice(2), v);
        else el.setAttribute(k, v === true ? "" : v);
      }
      el.append(...kids.filter((x) => x != null && x !== false));
      return el;
    };
    const ICON = {
      up: "M12 5l8 10H4z", down: "M12 19L4 9h16z",
      bubble: "M4 3h16a2 2 0 012 2v11a2 2 0 01-2 2H9l-5 4v-4a2 2 0 01-2-2V5a2 2 0 012-2z",
      bell: "M12 22a2 2 0 002-2h-4a2 2 0 002 2zm6-6V11a6 6 0 00-5-5.9V4a1 1 0 00-2 0v1.1A6 6 0 006 11v5l-2 2v1h16v-1z",
    };
    // SVG elements: attributes only (an SVG element has no settable className)
    const sv = (tag, attrs, ...kids) => {
      const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
      for (const k in attrs) el.setAttribute(k, attrs[k]);
      el.append(...kids);
      return el;
    };
    const icon = (name) => sv("svg", { viewBox: "0 0 24 24", "aria-hidden": "true" }, sv("path", { d: ICON[name] }));
    const store = {
      get(k, d) {
        try {
          return JSON.parse(localStorage["kibitz:" + k]) ?? d;
        } catch (e) {
          return d; // nothing kept yet, or storage disabled
        }
      },
      set(k, v) {
        try {
          localStorage["kibitz:" + k] = JSON.stringify(v);
        } catch (e) { /* private mode, full or disabled: remember nothing */ }
      },
    };
    const plural = (n, word) => n + " " + word + (n === 1 ? "" : "s");
    const UNITS = [["year", 31536e3], ["month", 2592e3], ["week", 604800], ["day", 86400],
      ["hour", 3600], ["minute", 60]];
    const ago = (iso) => {
      const s = (Date.now() - Date.parse(iso)) / 1e3;
      if (s < 45) return "just now";
      for (const [unit, n] of UNITS) {
        if (s >= n || unit === "minute") return plural(Math.max(1, Math.floor(s / n)), unit) + " ago";
      }
    };
    const full = (iso) => new Date(iso).toLocaleString(undefined,
      { dateStyle: "full", timeStyle: "short" });
    const timeEl = (iso) => h("time", { datetime: iso, title: full(iso), text: ago(iso) });
    const options = (o, value) =>
      Object.keys(o).map((k) => h("option", { value: k, selected: k === value, text: o[k] }));
    // a field's "required" mark: for assistive technology, and a star for the eye
    const need = (el, on) => {
      el.setAttribute("aria-required", !!on);
      el.star.hidden = !on;
    };
    // a labelled input with its error message next to it; n keeps ids unique per form
    const field = (n, name, label, type, auto, required) => {
      const input = h("input", { id: "kb-" + name + n, name, type, autocomplete: auto });
      input.err = h("span", { class: "kb-ferr", id: "kb-e-" + name + n });
      input.wrap = h("div", { class: "kb-f" },
        h("label", { for: input.id }, label, input.star = h("span", { "aria-hidden": "true", text: " *" })),
        input, input.err);
      need(input, required);
      return input;
    };

    async function api(method, path, body, headers) {
      let res;
      let data = null;
      try {
        res = await fetch(API + "/api/v1/" + path, {
          method,
          credentials: "include",
          // who the reader is, where the browser keeps no cookies for kibitz: on what they
          // do and on /me (not on the public reads, which it would make preflighted)
          headers: { ...body && { "Content-Type": "application/json" },
            ...rid && (method != "GET" || path[0] == "m") && { "X-Kibitz-Reader": rid }, ...headers },
          body: body && JSON.stringify(body),
        });
        data = await res.json();
      } catch (e) {
        if (!res) throw { message: S.net };
      }
      // the server's own words (a 429's say how long to wait)
      if (!res.ok) throw (data && data.error) || { message: "Something went wrong (" + res.status + ")." };
      return data;
    }

    /* -- state */
    let sort = store.get("sort", "newest");
    if (!SORTS[sort]) sort = "newest";
    const own = store.get("own", {}); // id -> {t: edit token, u: edit until, b: the Markdown}
    for (const id in own) if (Date.parse(own[id].u) < Date.now()) delete own[id];
    store.set("own", own);
    let votes = {}; // id -> 1 | -1, this reader's votes
    let rid = store.get("reader"); // the reader's signed id from /me, sent as X-Kibitz-Reader
    // name and website for the next form; never the e-mail, which host scripts could read
    let author = store.get("author", {});
    delete author.email;
    store.set("author", author);
    // what the site asks of a guest (from /me, which reshapes the forms made before it came)
    let guest = { require_name: 1, allow_website: 1 };
    const fit = (F) => {
      need(F.name, guest.require_name);
      need(F.email, guest.require_email);
      F.url.wrap.hidden = !guest.allow_website;
    };
    let count = 0;
    let closed = false;
    let cursor = null;
    let filter = ""; // added to every page request (the Inline Feedbacks view)
    let seq = 0;
    let uid = 0;
    const nodes = new Map(); // id -> <li>
    const heard = new Set(); // comments whose posting or deletion live updates counted already
    const mine = (id) => own[id] && Date.parse(own[id].u) > Date.now();

    /* -- "Notify of": per comment in the form, and following a thread without commenting */
    const NOTIFY = { none: "nothing", thread: "new follow-up comments", replies: "new replies to my comments" };
    on("form", (f, kind, n) => {
      if (kind === "edit") return;
      const sel = h("select", { id: "kb-nt" + n, name: "notify" }, ...options(NOTIFY, "none"));
      const box = h("input", { type: "checkbox", id: "kb-nr" + n, name: "notify_replies" });
      f.fields.after(h("div", { class: "kb-notify" },
        h("span", { class: "kb-f" }, h("label", { for: sel.id, text: "Notify of" }), sel),
        h("span", { class: "kb-check" }, box,
          h("label", { for: box.id, text: "Notify me of replies to this comment" }))));
      f.extra.push(() => ({ notify: sel.value, notify_replies: box.checked }));
      f.reset.push(() => (box.checked = false));
    });
    on("ui", (sec) => {
      const n = ++uid;
      const kind = h("select", { id: "kb-sk", name: "kind" },
        ...options({ thread: NOTIFY.thread, replies: NOTIFY.replies }));
      const email = field(n, "email", "E-mail", "email", "email", true);
      const done = h("p", { class: "kb-ok", role: "status" });
      const panel = h("form", { class: "kb-sub", id: "kb-sub", hidden: true, novalidate: true,
        "aria-label": "Subscribe without commenting", onsubmit: subscribe },
        h("p", { class: "kb-help", text: "Get e-mail about this discussion without commenting." }),
        h("div", { class: "kb-fields" },
          h("div", { class: "kb-f" }, h("label", { for: kind.id, text: "Notify of" }), kind),
          email.wrap),
        h("div", { class: "kb-buttons" }, h("button", { type: "submit", class: "kb-primary", text: "Subscribe" })),
        done);
      const toggle = h("button", { type: "button", class: "kb-link kb-follow", "aria-expanded": "false",
        "aria-controls": panel.id, onclick: () => {
          panel.hidden = !panel.hidden;
          toggle.setAttribute("aria-expanded", String(!panel.hidden));
          if (!panel.hidden) email.focus();
        } }, icon("bell"), "Subscribe");
      sec.querySelector(".kb-sorts").before(toggle);
      sec.querySelector(".kb-head").after(panel);
      async function subscribe(e) {
        e.preventDefault();
        done.textContent = email.err.textContent = "";
        email.removeAttribute("aria-invalid");
        try {
          const r = await api("POST", "subscriptions",
            { email: email.value.trim(), thread: KEY, kind: kind.value, thread_url: /^https?:/.test(PAGE) ? PAGE : null });
          done.textContent = r.status === "subscribed"
            ? "Subscribed. Every mail has a link to stop it."
            : "Almost done: open the mail we sent to " + email.value.trim() + " to confirm.";
        } catch (err) {
          email.err.textContent = err.message;
          email.setAttribute("aria-invalid", "true");
          email.setAttribute("aria-describedby", email.err.id);
          email.focus();
        }
      }
    });

    /* -- the floating bubble: the count, and after a while an invitation to comment */
    const WEEK = 7 * 864e5;
    let fab;
    on("ui", () => {
      if (ds.kibitzBubble === "off") return;
      const bub = shadow(h("div", { "data-kibitz-bubble": "" }), document.body);
      const hideInvite = () => {
        invite.hidden = true;
        store.set("bubble", Date.now());
        fab.focus();
      };
      const invite = h("div", { class: "kb-invite", hidden: true },
        h("button", { type: "button", class: "kb-invite-text", text: S.prompt, onclick: goToForm }),
        h("button", { type: "button", class: "kb-x", "aria-label": "Close the invitation", text: "×",
          onclick: hideInvite }));
      fab = h("button", { type: "button", class: "kb-fab", onclick: goToForm }, icon("bubble"),
        h("span", { text: "0" }), h("span", { class: "kb-fab-new", hidden: true }));
      const aside = h("aside", { class: "kb-bubble", "aria-label": "Discussion shortcut" }, invite, fab);
      bub.append(aside);
      if (Date.now() - store.get("bubble", 0) > WEEK) {
        setTimeout(() => (invite.hidden = closed), +(ds.kibitzBubbleDelay || 8000));
      }
      if (window.IntersectionObserver) {
        // out of the way while the reader is in the discussion already: it would cover it
        new IntersectionObserver((entries) => {
          aside.classList.toggle("kb-away", entries[entries.length - 1].isIntersecting);
        }).observe(sec);
      }
    });
    let unseen = 0;
    const label = () => {
      if (!fab) return;
      const [, n, badge] = fab.children;
      n.textContent = count;
      badge.textContent = unseen ? "+" + unseen : "";
      badge.hidden = !unseen;
      fab.setAttribute("aria-label", plural(count, "comment") + (unseen ? ", " + unseen + " new" : "") +
        ". Go to the comment form");
    };
    on("count", label);
    on("fresh", (n) => label(unseen = n));
    function goToForm() {
      const no = !main.isConnected; // closed, or the reader may not post
      const smooth = !matchMedia("(prefers-reduced-motion: reduce)").matches;
      (no ? title : main).scrollIntoView({ behavior: smooth ? "smooth" : "auto", block: "center" });
      (no ? title : main.ta).focus({ preventScroll: true });
    }

    /* -- a link to one comment (#kibitz-comment-ID, as in notification mails) */
    const wanted = () => /^#kibitz-comment-\d+$/.test(location.hash) && +location.hash.slice(16);
    let seek = wanted();
    // the browser moves the focus to the page's own #fragment target when it has loaded
    const loaded = new Promise((ok) =>
      document.readyState === "complete" ? ok() : addEventListener("load", () => setTimeout(ok)));
    addEventListener("hashchange", () => (seek = wanted()) && goTo());
    on("page", goTo);
    function goTo() {
      const li = seek && nodes.get(seek);
      if (!li && cursor && seek) return viewAll();
      seek = 0;
      if (li) {
        Promise.all([ui.ready, loaded]).then(() => {
          li.firstChild.scrollIntoView({ block: "center" });
          li.firstChild.focus({ preventScroll: true });
        });
      }
    }

    /* -- inline feedback: comments on a passage of the article. The article's normalised text
     * and the anchoring steps are those of kibitz/anchoring.py (see its docstring). */
    const ART = ds.kibitzArticle && document.querySelector(ds.kibitzArticle);
    const BLOCK = /^(ADDRESS|ARTICLE|ASIDE|BLOCKQUOTE|BR|CAPTION|DD|DETAILS|DIV|DL|DT|FIGCAPTION|FIGURE|FOOTER|FORM|H[1-6]|HEADER|HR|LI|MAIN|NAV|OL|P|PRE|SECTION|SUMMARY|TABLE|TBODY|TD|TFOOT|TH|THEAD|TR|UL)$/;
    let P = {}; // passage id -> passage; .r: its range in the article, when found
    let order = [];
    let marks = [];
    let ready;
    let tab;
    let bar;
    function textOf(root) {
      const X = { t: "", m: [] }; // the text, and per code point [text node, from, to] (0: a space)
      let sp = 1;
      const gap = () => sp || (X.t += " ", X.m.push(0), sp = 1);
      (function walk(el) {
        for (const n of el.childNodes) {
          if (n.nodeType === 3) {
            for (const c of n.data.matchAll(/\P{M}\p{M}*|\p{M}+/gu)) {
              if (/^\s/.test(c[0])) gap();
              else for (const ch of c[0].normalize("NFC")) X.t += ch, X.m.push([n, c.index, c.index + c[0].length]), sp = 0;
            }
          } else if (n.nodeType === 1 && !/^(SCRIPT|STYLE|TEMPLATE|NOSCRIPT)$/.test(n.tagName) && !n.hasAttribute("data-kibitz-ignore")) {
            const b = BLOCK.test(n.tagName);
            b && gap(), walk(n), b && gap();
          }
        }
      })(root);
      if (sp && X.m.length) X.t = X.t.slice(0, -1), X.m.pop();
      X.a = [...X.t];
      let h = 2166136261;
      for (const ch of X.a) h = Math.imul(h ^ ch.codePointAt(0), 16777619);
      X.h = (h >>> 0).toString(16).padStart(8, "0");
      return X;
    }
    // the fewest edits from q to a stretch of t ending at j (anchored: to t[0..j]), as
    // [edits, j]: the fewest, then the one nearest to near, then the first
    function edits(q, t, anchored, near) {
      const D = [...Array(q.length + 1).keys()];
      let best = [1e9];
      t.forEach((c, j) => {
        let diag = D[0];
        D[0] = anchored ? j + 1 : 0;
        for (let i = 1, up; i <= q.length; i++) {
          up = D[i];
          D[i] = Math.min(up + 1, D[i - 1] + 1, diag + (q[i - 1] !== c));
          diag = up;
        }
        const d = D[q.length];
        if (d < best[0] || d === best[0] && Math.abs(j + 1 - near) < Math.abs(best[1] - near)) best = [d, j + 1];
      });
      return best;
    }
    // where the selector is in the text now, [start, end], or nothing: an orphan
    function find(X, s, hash) {
      const A = X.a, q = [...s.exact], m = q.length, k = m >> 2, str = (a, b) => A.slice(Math.max(a, 0), b).join("");
      const same = (a, b) => { let n = 0; while (n < a.length && a[n] === b[n]) n++; return n; };
      if (str(s.start, s.end) === s.exact && (hash === X.h ||
        str(s.start - [...s.prefix].length, s.start) === s.prefix && str(s.end, s.end + [...s.suffix].length) === s.suffix)) {
        return [s.start, s.end];
      }
      let best = [-1];
      for (let i = X.t.indexOf(s.exact); m && i >= 0; i = X.t.indexOf(s.exact, i + 1)) {
        const at = [...X.t.slice(0, i)].length;
        const score = same(A.slice(Math.max(0, at - 32), at).reverse(), [...s.prefix].reverse()) +
          same(A.slice(at + m, at + m + 32), [...s.suffix]);
        if (score > best[0] || score === best[0] && Math.abs(at - s.start) < Math.abs(best[1] - s.start)) best = [score, at];
      }
      if (best[0] >= 0) return [best[1], best[1] + m];
      const [d, e] = edits(q, A, 0, s.end);
      if (k && d <= k) return [e - edits(q.reverse(), A.slice(Math.max(0, e - m - k), e).reverse(), 1, m)[1], e];
    }
    me.kibitz = { textOf, find }; // for the tests that hold it to kibitz/anchoring.py

    const quote = (p, tag) => h(tag, { class: "kb-q" }, p.question ? h("strong", { text: p.question + " " }) : null,
      h("q", { text: p.selector.exact }), " ", p.r ? h("button", { type: "button", class: "kb-link",
        text: "Show in the article", onclick: () => show(p) })
        // not found in the article; on a page that names none, only the server can tell
        : (ART || p.orphaned) && h("span", { class: "kb-pending", text: "passage changed" }));
    function show(p) {
      p.marks[0].scrollIntoView({ block: "center" });
      for (const mk of p.marks) mk.style.background = "#ffd54a80";
      setTimeout(() => p.marks.forEach((mk) => (mk.style.background = "none")), 3e3);
      p.btn.focus({ preventScroll: true });
    }
    // after the passages of a comment just posted (setTimeout: they are being fetched again)
    on("comment", (art, c) => c.passage_id && setTimeout(() => ready.then(() => {
      const p = P[c.passage_id];
      if (p && !art.q) art.body.before(art.q = quote(p, "blockquote"));
    })));

    // the icon beside a passage (with its count), and the form it opens in place
    function pin(p, at) {
      const host = h("span", { "data-kibitz-ignore": "" });
      host.style.display = "inline";
      at.insertNode(host);
      const w = shadow(host);
      w.className += " kb-pi";
      const n = p.count;
      const btn = p.btn = h("button", { type: "button", class: "kb-pq", "aria-expanded": "false",
        "aria-label": (p.question ? "Question: " + p.question : "Comment on this passage.") + " " + plural(n, "comment"),
        onclick: () => {
          if (p.panel) return close();
          const f = form({ onDone: (c) => (close(), c && refresh(c)) });
          f.setAttribute("aria-label", p.question ? "Answer the question" : "Comment on this passage");
          f.extra.push(() => (p.id ? { passage_id: p.id } : { anchor: p.anchor }));
          w.append(p.panel = h("div", { class: "kb-pp" }, quote(p, "p"), f));
          p.panel.firstChild.lastChild.remove(); // "show in the article": it is right here
          btn.setAttribute("aria-expanded", "true");
          w.ready.then(() => f.ta.focus());
        } }, icon("bubble"), n || null);
      w.append(btn);
      btn.w = w;
      return host;
      function close() {
        p.panel.remove();
        p.panel = null;
        btn.setAttribute("aria-expanded", "false");
        btn.focus();
      }
    }

    async function passages() {
      const L = await api("GET", "passages?thread=" + encodeURIComponent(KEY)).catch(() => ({ passages: [] }));
      for (const mk of marks) mk.replaceWith(...mk.childNodes);
      for (const p of order) p.host && p.host.remove();
      const X = ART && (ART.normalize(), textOf(ART));
      P = {};
      marks = [];
      order = L.passages;
      order.rp = L.reader_passages;
      for (const p of order) {
        P[p.id] = p;
        let [s, e] = (X && find(X, p.selector, p.text_hash)) || [];
        if (!e) continue;
        while (!X.m[s]) s++;
        while (!X.m[e - 1]) e--;
        p.r = new Range();
        p.r.setStart(X.m[s][0], X.m[s][1]);
        p.r.setEnd(X.m[e - 1][0], X.m[e - 1][2]);
      }
      // ranges first, then marks: live ranges follow the text nodes that marking splits
      for (const p of order) {
        const r = p.r, texts = [], walk = r && document.createTreeWalker(r.commonAncestorContainer, 4);
        if (!r) continue;
        for (let n = walk.currentNode; n; n = walk.nextNode()) n.nodeType === 3 && r.intersectsNode(n) && texts.push(n);
        marks.push(...(p.marks = texts.map((n) => {
          if (n === r.endContainer) n.splitText(r.endOffset);
          if (n === r.startContainer) n = n.splitText(r.startOffset);
          const mk = h("mark", { "data-kibitz-passage": p.id });
          mk.style.cssText = "all:unset;text-decoration:underline dotted";
          n.before(mk);
          mk.append(n);
          return mk;
        })));
        const at = new Range();
        at.setStartAfter(marks[marks.length - 1]);
        p.host = pin(p, at);
      }
      order.sort((a, b) => !a.r - !b.r);
      tab.hidden = !order.length;
      theme();
    }
    function refresh(c) {
      (ready = passages()).then(() => {
        const b = (P[c.passage_id] || {}).btn;
        b && b.w.ready.then(() => b.focus());
        filter && view(1);
      });
    }

    on("ui", (sec) => {
      tab = h("button", { type: "button", class: "kb-link", "aria-pressed": "false", hidden: true,
        text: "Inline Feedbacks", onclick: () => view(!filter) });
      sec.querySelector(".kb-sorts").before(tab);
      list.before(bar = h("p", { class: "kb-iv", hidden: true }, h("button", { type: "button", class: "kb-link",
        text: "View all comments", onclick: () => view().then(() => tab.focus()) })));
      ready = passages();
      if (!ART) return;
      // a passage the reader selects: a button to comment on it, which opens the form there
      let r, wait;
      const go = h("button", { type: "button", class: "kb-primary kb-sel", hidden: true, onclick: () => {
        const X = textOf(ART);
        let s = -1, e;
        X.m.forEach((x, i) => {
          if (x && r.comparePoint(x[0], x[1]) > -1 && r.comparePoint(x[0], x[2]) < 1) (s < 0 && (s = i)), e = i + 1;
        });
        go.hidden = true;
        if (s < 0) return;
        const A = X.a, exact = A.slice(s, e).join(""), p = { count: 0, r: 1, selector: { exact } };
        p.anchor = { exact, prefix: A.slice(Math.max(0, s - 32), s).join(""), suffix: A.slice(e, e + 32).join(""),
          start: s, end: e, text_hash: X.h };
        r.collapse();
        order.push(Object.assign(p, { host: pin(p, r) }));
        p.btn.click();
      } }, icon("bubble"), "Comment on the selected passage");
      sec.append(go);
      document.addEventListener("selectionchange", () => {
        clearTimeout(wait);
        wait = setTimeout(() => {
          const sel = getSelection();
          r = sel.rangeCount && sel.getRangeAt(0).cloneRange();
          go.hidden = !(order.rp && r && String(sel).trim() && ART.contains(r.commonAncestorContainer));
        }, 250);
      });
    });

    // the Inline Feedbacks view: comments on passages, grouped by passage
    function view(on) {
      filter = on ? "&passage=any" : "";
      tab.setAttribute("aria-pressed", String(!!on));
      bar.hidden = !on;
      return load();
    }
    on("page", () => {
      if (!filter) return;
      for (const li of [...list.children]) {
        const p = li.c && P[li.c.passage_id];
        if (!p) continue;
        if (!p.group || !p.group.isConnected) p.group = h("li", { class: "kb-grp" }, quote(p, "h3"), h("ol", { class: "kb-list" }));
        p.group.lastChild.append(li);
      }
      for (const p of order) p.group && p.group.lastChild.children.length && list.append(p.group);
    });

    /* -- moderation: the honeypot and form token, the reader's held comments in place, the
     * ban, reports, pinned and featured marks (docs/moderation.md, "For the widget") */
    let token;
    let held = [];
    on("form", (f, kind) => {
      if (kind === "edit") return;
      // people never see it, bots fill it in
      const hp = h("input", { id: "kb-hp" + ++uid, name: "homepage", tabindex: "-1", autocomplete: "off" });
      f.append(h("p", { class: "kb-hp", "aria-hidden": "true" },
        h("label", { for: hp.id, text: "Leave this field empty" }), hp));
      f.extra.push(() => ({ honeypot: hp.value, form_token: token }));
    });
    on("me", (m) => {
      token = m.form_token;
      held = m.pending;
      showHeld();
      if (m.ban) ban(m.ban.message);
    });
    on("page", showHeld);
    function showHeld() {
      for (const c of held) nodes.has(c.id) || place(c);
    }
    on("ban", ban);
    function ban(message) {
      const p = h("p", { class: "kb-banned", role: "alert", tabindex: "-1", text: message });
      const had = sec.matches(":focus-within");
      main.replaceWith(p);
      ui.classList.add("kb-no");
      if (had) p.focus();
    }
    const REASONS = { spam: "Spam", abuse: "Abuse", off_topic: "Off-topic", other: "Other" };
    on("comment", (art, c) => {
      const meta = art.querySelector(".kb-meta");
      if (c.pinned) meta.append(h("span", { class: "kb-badge", text: "Pinned" }));
      if (c.featured) meta.append(h("span", { class: "kb-badge kb-feat", text: "Featured" }));
      if (c.status !== "approved" || mine(c.id)) return;
      let box;
      const said = h("p", { class: "kb-ok", role: "status" });
      const btn = h("button", { type: "button", class: "kb-link", "aria-expanded": "false", text: "Report",
        onclick: () => box ? close() : open() });
      art.acts.append(btn);
      art.acts.after(said);
      function open() {
        const n = ++uid;
        const why = h("select", { id: "kb-why" + n, name: "reason" }, ...options(REASONS));
        const note = field(n, "note", "Details (optional)", "text", "off");
        box = h("form", { class: "kb-form kb-rep", "aria-label": "Report this comment", novalidate: true,
          onsubmit: send, onkeydown: (e) => e.key === "Escape" && close() },
          h("div", { class: "kb-fields" }, h("div", { class: "kb-f" }, h("label", { for: why.id, text: "Why?" }), why), note.wrap),
          h("div", { class: "kb-buttons" },
            h("button", { type: "button", class: "kb-ghost", text: "Cancel", onclick: close }),
            h("button", { type: "submit", class: "kb-primary", text: "Send report" })));
        said.textContent = "";
        said.before(box);
        btn.setAttribute("aria-expanded", "true");
        why.focus();
        async function send(e) {
          e.preventDefault();
          try {
            const r = await api("POST", "comments/" + c.id + "/report", { reason: why.value, note: note.value.trim() });
            close();
            said.textContent = r.status === "reported"
              ? "Thank you. A moderator will look at this comment."
              : "You have reported this comment already.";
          } catch (err) {
            note.err.textContent = err.message;
          }
        }
      }
      function close() {
        box.remove();
        box = null;
        btn.setAttribute("aria-expanded", "false");
        btn.focus();
      }
    });
    on("ui", (sec) => sec.append(h("p", { class: "kb-help kb-mine" },
      h("a", { href: API + "/my-data", text: "Your data: download or erase your comments" }))));

    /* -- live updates: the thread's event stream (docs/live.md); where it cannot be used,
     * polling with ETag/304. New comments wait behind a banner, the rest changes in place. */
    const POLL = (+ds.kibitzPoll || 30) * 1e3;
    let last; // the newest event seen: where the stream resumes
    let es;
    let errs = 0; // streams failed in a row: three, and the widget polls
    let idle = 0; // the thread has no stream (204): a poll every five minutes, until it wakes
    let hold = 0; // no stream before then (Retry-After)
    let beat = 0;
    let every = 20;
    let polled = 0;
    let etag;
    let fresh = [];
    let banner;
    on("ui", () => list.before(banner = h("button", { type: "button", class: "kb-newc", hidden: true, onclick: showFresh })));
    // the reader's own comment may come by the stream before the answer to its post
    on("comment", () => fresh.length && news());
    on("page", (d) => {
      news();
      if (last != null || ds.kibitzLive === "off") return;
      last = d.thread.last_event_id;
      connect();
      setInterval(tick, Math.min(POLL, 5e3));
      document.addEventListener("visibilitychange", connect);
    });
    const got = {
      ready: (d) => (every = d.heartbeat),
      comment: (d) => seen(d.comment, 0, heard.add(d.comment.id)),
      edit: (d) => seen(d.comment),
      vote: (d) => seen(d, 1),
      delete: (d) => {
        heard.add(d.id);
        if (d.comment) seen(d.comment);
        d.removed.forEach(gone);
      },
      thread: (d) => d.closed !== closed && load(),
      reset: () => load(),
      ping: () => 0,
    };
    // a comment as it is now (or only its votes): new ones wait, shown ones change in place
    function seen(c, onlyVotes) {
      const li = nodes.get(c.id);
      const q = fresh.find((x) => x.id === c.id);
      if (q) return Object.assign(q, onlyVotes ? { votes: c.votes } : c);
      if (!li) {
        if (!onlyVotes && c.status === "approved") fresh.push({ ...c, replies: [] }), news();
        return;
      }
      const art = li.firstChild;
      if (!onlyVotes && (li.c.edited_at !== c.edited_at || li.c.status !== c.status)) {
        if (!art.form) steady(() => replace(c.id, c));
      } else if (art.up) {
        li.c.votes = c.votes;
        showVotes(art, c.votes, votes[c.id] || 0);
      }
    }
    function gone(id) {
      const li = nodes.get(id);
      fresh = fresh.filter((x) => x.id !== id);
      if (li) steady(() => li.remove());
      if (!list.children.length) empty();
      nodes.delete(id);
      news();
    }
    // change the page above what the reader is looking at without moving what they see
    function steady(change) {
      const y = list.getBoundingClientRect().top;
      change();
      const moved = list.getBoundingClientRect().top - y;
      if (y < 0 && moved) scrollBy(0, moved);
    }
    function news() {
      fresh = fresh.filter((c) => !nodes.has(c.id));
      const n = fresh.length;
      const text = plural(n, "new comment");
      if (banner.textContent === text || !n && banner.hidden) return;
      steady(() => {
        banner.hidden = !n;
        banner.textContent = text;
      });
      if (n) say(text);
      emit("fresh", n);
    }
    function showFresh() {
      const shown = fresh.map(place).filter(Boolean);
      fresh = [];
      news();
      if (shown[0]) shown[0].firstChild.focus();
    }
    function connect() {
      if (es) es.close();
      es = null;
      if (document.hidden || !host.isConnected) return;
      if (!window.EventSource || errs > 2 || idle || Date.now() < hold) return poll();
      const url = API + "/api/v1/stream?thread=" + encodeURIComponent(KEY) + "&last_event_id=" + last;
      const s = es = new EventSource(url);
      beat = Date.now();
      s.onerror = async () => {
        if (s.readyState < 2) return ++errs > 2 && connect(); // failing again and again
        // closed for good, and EventSource does not say why: ask (and let go at the headers)
        const stop = new AbortController();
        const r = await fetch(url, { signal: stop.signal }).catch(() => 0);
        stop.abort();
        if (s !== es) return;
        if (r.status === 204) idle = 1; // an idle thread
        else if (r.status === 429) hold = Date.now() + (r.headers.get("Retry-After") || 60) * 1e3;
        else errs = 3; // blocked
        connect();
      };
      for (const k in got) {
        s.addEventListener(k, (e) => {
          errs = 0;
          beat = Date.now();
          if (e.lastEventId) last = +e.lastEventId;
          const d = JSON.parse(e.data);
          got[k](d);
          // the count as of this event (ready's may be older than the reader's own change)
          if (k !== "ready" && d.count != null) setCount(d.count);
        });
      }
    }
    function tick() {
      const now = Date.now();
      if (!host.isConnected) return es && es.close();
      if (document.hidden) return;
      // silent: stalled (a buffering proxy, say), a failure too; open again
      if (es) now - beat > every * 2e3 + 5e3 && (errs++, connect());
      else if (hold && now > hold) connect(hold = 0); // Retry-After has passed
      else if (now - polled >= (idle ? 3e5 : POLL)) poll();
    }
    async function poll() {
      polled = Date.now();
      try {
        const r = await fetch(API + "/api/v1/comments?thread=" + encodeURIComponent(KEY) + "&sort=newest",
          { credentials: "include", cache: "no-store", headers: etag ? { "If-None-Match": etag } : {} });
        if (r.status !== 200) return;
        etag = r.headers.get("ETag");
        const d = await r.json();
        const ids = new Set();
        const had = fresh.length;
        const walk = (cs) => cs.forEach((c) => (ids.add(c.id), seen(c), walk(c.replies)));
        walk(d.comments);
        // a new comment: the thread is awake, and a stream may work now
        if (fresh.length > had && !es && window.EventSource) idle = errs = 0, connect();
        // the whole thread came: what is not in it any more has been removed
        if (!d.next_cursor && !filter) {
          for (const [id, li] of nodes) ids.has(id) || li.c.status === "pending" || gone(id);
        }
        setCount(d.thread.comment_count);
      } catch (e) { /* try again at the next turn */ }
    }

    /* -- the funding bar of a campaign, as the server renders it (_funding_bar.html, in the
     * funding API's html) */
    function funding() {
      const slug = ds.kibitzCampaign;
      let el = document.getElementById("kibitz-funding");
      if (slug == null || el && el.shadowRoot) return;
      if (!el) host.before(el = h("div", { id: "kibitz-funding" }));
      const w = shadow(el);
      api("GET", "funding" + (slug ? "/" + encodeURIComponent(slug) : "")).then((b) => {
        w.innerHTML = b.html; // made by the server from the same template as its own pages
        theme();
      }, () => el.remove()); // no such campaign: nothing to show
    }

    /* -- the shell: shadow roots for the discussion, the floating bubble and the funding bar */
    function shadow(hostEl, parent) {
      if (parent) parent.append(hostEl);
      const root = hostEl.attachShadow({ mode: "open" });
      const wrap = h("div", { class: "kb", hidden: true });
      // shown once styled; until then nothing in it can take the focus or be scrolled to
      wrap.ready = new Promise((show) => root.append(h("link",
        { rel: "stylesheet", href: API + "/embed.css", onload: show, onerror: show }), wrap))
        .then(() => (wrap.hidden = false));
      wraps.push(wrap);
      return wrap;
    }
    function theme() {
      // light or dark after the host page: its text colour says which (its colour-scheme,
      // prefers-color-scheme or its own switch all end up there)
      const rgb = (getComputedStyle(host).color.match(/[\d.]+/g) || [0, 0, 0]).map(Number);
      const dark = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2] > 140;
      for (const w of wraps) w.classList.toggle("kb-dark", dark);
    }

    let host = document.getElementById("kibitz-thread");
    if (!host) {
      host = h("div", { id: "kibitz-thread" });
      if (me.parentNode && me.parentNode !== document.head && document.body.contains(me)) me.after(host);
      else document.body.append(host);
    }
    if (host.shadowRoot) return;
    const wraps = [];
    funding();
    if (ds.kibitzDiscussion === "off") return;
    const ui = shadow(host);
    const live = h("div", { class: "kb-sr", role: "status", "aria-live": "polite" });
    const say = (text) => {
      live.textContent = "";
      setTimeout(() => (live.textContent = text), 60);
    };
    const title = h("h2", { class: "kb-count", id: "kb-title", tabindex: "-1", text: "Comments" });
    const sorts = h("div", { class: "kb-sorts", role: "group", "aria-label": "Sort comments" });
    for (const value in SORTS) {
      sorts.append(h("button", {
        type: "button", "data-sort": value, "aria-pressed": String(value === sort), text: SORTS[value],
        onclick: () => setSort(value),
      }));
    }
    const main = form({});
    const shut = h("p", { class: "kb-closed", text: "This discussion is closed." });
    const list = h("ol", { class: "kb-list" });
    const status = h("div", { class: "kb-state" });
    const more = h("button", { type: "button", class: "kb-more", hidden: true, text: "View all comments",
      onclick: viewAll });
    const sec = h("section", { class: "kb-sec", "aria-labelledby": "kb-title" },
      live, h("header", { class: "kb-head" }, title, sorts),
      main, status, list, more);
    ui.append(sec);
    emit("ui", sec);
    theme();
    matchMedia("(prefers-color-scheme: dark)").addEventListener("change", theme);
    // the host page's own light/dark switch: a class, style or data-theme on <html> or <body>
    const watch = new MutationObserver(theme);
    for (const el of [document.documentElement, document.body]) {
      watch.observe(el, { attributeFilter: ["class", "style", "data-theme"] });
    }

    /* -- the comment form: a new comment, a reply (parent) or an edit (comment) */
    function form({ parent, edit, onDone }) {
      const n = ++uid;
      const kind = edit ? "edit" : parent ? "reply" : "new";
      const ta = h("textarea", {
        id: "kb-body" + n, name: "body", rows: kind === "new" ? 4 : 3, required: true,
        placeholder: kind === "new" ? S.prompt : kind === "reply" ? "Write your reply…" : null,
      });
      ta.err = h("span", { class: "kb-ferr", id: "kb-e-body" + n });
      if (edit) ta.value = own[edit.id].b;
      const fields = { body: ta };
      const input = (name, label, type, auto) => {
        const el = (fields[name] = field(n, name, label, type, auto));
        el.value = author[name] || "";
        return el.wrap;
      };
      const alert = h("p", { class: "kb-alert", role: "alert" });
      const preview = h("div", { class: "kb-preview kb-body", hidden: true, "aria-live": "polite" });
      const pbtn = h("button", { type: "button", class: "kb-ghost", "aria-pressed": "false",
        text: "Preview", onclick: togglePreview });
      const label = edit ? "Edit your comment" : parent ? "Your reply" : "Comment";
      const help = h("p", { class: "kb-help", id: "kb-help" + n, text: S.help });
      const f = h("form", { class: "kb-form kb-form-" + kind, novalidate: true, "aria-label": label },
        h("label", { class: "kb-sr", for: ta.id, text: label }), ta, ta.err, preview);
      f.fields = h("div", { class: "kb-fields" });
      if (!edit) {
        f.fields.append(input("name", "Name", "text", "name"), input("email", "E-mail", "email", "email"),
          input("url", "Website", "url", "url"));
        f.append(f.fields);
        fit(fields);
        on("me", () => fit(fields));
      }
      f.append(help, alert, h("div", { class: "kb-buttons" }, pbtn,
        onDone ? h("button", { type: "button", class: "kb-ghost", text: "Cancel", onclick: () => onDone() }) : null,
        h("button", { type: "submit", class: "kb-primary", text: edit ? "Save" : parent ? "Post Reply" : "Post Comment" })));
      f.ta = ta;
      f.extra = [];
      f.reset = [];
      emit("form", f, kind, n);
      let busy = false;
      ta.addEventListener("keydown", (e) => {
        if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) f.requestSubmit();
      });
      f.addEventListener("keydown", (e) => e.key === "Escape" && onDone && onDone());
      let typing;
      ta.addEventListener("input", () => {
        clearTimeout(typing);
        if (!preview.hidden) typing = setTimeout(showPreview, 400);
      });

      function clear() {
        alert.textContent = "";
        for (const k in fields) {
          fields[k].err.textContent = "";
          fields[k].removeAttribute("aria-invalid");
          fields[k].setAttribute("aria-describedby", k === "body" ? help.id : fields[k].err.id);
        }
      }
      function fail(err) {
        const el = fields[String(err.field).replace("author_", "")]; // body, name, email, url
        if (el) {
          el.err.textContent = err.message;
          el.setAttribute("aria-invalid", "true");
          el.setAttribute("aria-describedby", el.err.id);
          el.focus();
        } else {
          alert.textContent = err.message;
        }
      }
      function togglePreview() {
        preview.hidden = !preview.hidden;
        pbtn.setAttribute("aria-pressed", String(!preview.hidden));
        if (!preview.hidden) showPreview();
      }
      async function showPreview() {
        if (!ta.value.trim()) return (preview.textContent = "Nothing to preview yet.");
        try {
          // sanitised by the server, the same HTML the comment would be stored as
          preview.innerHTML = (await api("POST", "preview", { body: ta.value })).body_html;
        } catch (err) {
          preview.textContent = err.message;
        }
      }
      f.addEventListener("submit", async (e) => {
        e.preventDefault();
        if (busy) return;
        clear();
        const body = ta.value;
        if (!body.trim()) return fail({ field: "body", message: "Write something before posting." });
        if (!edit && guest.require_name && !fields.name.value.trim()) {
          return fail({ field: "author_name", message: "Please give your name." });
        }
        busy = true;
        f.setAttribute("aria-busy", "true");
        try {
          if (edit) {
            const c = await api("PATCH", "comments/" + edit.id, { body },
              { "X-Kibitz-Edit-Token": own[edit.id].t });
            own[edit.id].b = body;
            store.set("own", own);
            onDone(c);
            say("Comment updated");
            return;
          }
          const who = { name: fields.name.value.trim(), url: guest.allow_website ? fields.url.value.trim() : "" };
          const req = {
            thread: KEY, parent_id: parent ? parent.id : null, body,
            author_name: who.name, author_email: fields.email.value.trim() || null, author_url: who.url || null,
            thread_title: ds.kibitzTitle || document.title, thread_url: /^https?:/.test(PAGE) ? PAGE : null,
          };
          for (const more of f.extra) Object.assign(req, more());
          const c = await api("POST", "comments", req);
          store.set("author", author = who);
          own[c.id] = { t: c.edit_token, u: c.edit_until, b: body };
          store.set("own", own);
          ta.value = "";
          preview.hidden = true;
          pbtn.setAttribute("aria-pressed", "false");
          for (const reset of f.reset) reset();
          added(c);
          const notified = req.notify && req.notify !== "none" || req.notify_replies;
          say((c.status === "pending" ? S.held : S.posted) + (notified ? S.mail : ""));
          if (onDone) onDone(c);
        } catch (err) {
          fail(err);
          if (err.code === "banned") emit("ban", err.message);
        } finally {
          busy = false;
          f.removeAttribute("aria-busy");
        }
      });
      clear();
      return f;
    }

    /* -- one comment, its actions and its replies */
    function render(c, depth) {
      const li = h("li", { class: "kb-c", id: "kibitz-comment-" + c.id });
      li.c = c;
      li.depth = depth;
      li.replies = h("ol", { class: "kb-list kb-replies" });
      if (c.replies_closed) li.classList.add("kb-rc"); // a moderator closed the conversation
      nodes.set(c.id, li);
      li.append(article(c), li.replies);
      for (const r of c.replies || []) li.replies.append(render(r, depth + 1));
      return li;
    }
    function article(c) {
      const gone = c.status === "deleted";
      const name = c.author.name || "";
      let hash = 0;
      for (const ch of name) hash = (hash * 31 + ch.codePointAt(0)) % 997;
      const who = c.author.url
        ? h("a", { href: c.author.url, rel: "nofollow ugc noopener", target: "_blank", text: name })
        : name;
      const body = h("div", { class: "kb-body" });
      if (!gone) body.innerHTML = c.body_html; // already sanitised by the server; nothing else is HTML
      const acts = h("div", { class: "kb-acts" });
      const err = h("p", { class: "kb-alert", role: "alert" });
      const art = h("article", { class: "kb-art" + (gone ? " kb-gone" : ""), tabindex: "-1",
        "aria-label": gone ? "Deleted comment" : "Comment by " + name },
        h("div", { class: "kb-av kb-h" + (hash % 6), "aria-hidden": "true", text: gone ? "" : [...name][0] || "?" }),
        h("div", { class: "kb-main" },
          h("div", { class: "kb-meta" },
            gone ? h("span", { class: "kb-name", text: "[deleted]" }) : h("span", { class: "kb-name" }, who),
            timeEl(c.created_at),
            c.edited_at && !gone ? h("span", { class: "kb-edited", title: full(c.edited_at), text: "(edited)" }) : null,
            c.status === "pending" ? h("span", { class: "kb-pending", text: "Awaiting moderation" }) : null),
          gone ? null : body, gone ? null : acts, err));
      art.err = err;
      art.body = body;
      art.acts = acts;
      if (!gone) {
        actions(art, c);
        emit("comment", art, c);
      }
      return art;
    }
    function actions(art, c) {
      const vote = (dir, v) => h("button", { type: "button", class: "kb-vote kb-" + dir,
        onclick: () => castVote(art, c, v) }, icon(dir), h("span", { class: "kb-n" }));
      art.up = vote("up", 1);
      art.down = vote("down", -1);
      art.acts.append(art.up, art.down);
      showVotes(art, c.votes, votes[c.id] || 0);
      if (c.status === "approved" && !closed) {
        art.reply = h("button", { type: "button", class: "kb-link kb-rb", "aria-expanded": "false", text: "Reply",
          onclick: () => reply(art, c) });
        art.acts.append(art.reply);
      }
      if (mine(c.id)) {
        art.acts.append(
          h("button", { type: "button", class: "kb-link kb-own", text: "Edit", onclick: () => editing(art, c) }),
          h("button", { type: "button", class: "kb-link kb-own", text: "Delete", onclick: () => confirmDelete(art, c) }));
      }
    }
    function showVotes(art, v, my) {
      art.up.lastChild.textContent = v.up;
      art.down.lastChild.textContent = v.down;
      art.up.setAttribute("aria-label", "Vote up, " + plural(v.up, "vote"));
      art.down.setAttribute("aria-label", "Vote down, " + plural(v.down, "vote"));
      art.up.setAttribute("aria-pressed", String(my === 1));
      art.down.setAttribute("aria-pressed", String(my === -1));
    }
    async function castVote(art, c, v) {
      if (art.voting) return;
      art.voting = true;
      art.err.textContent = "";
      const value = (votes[c.id] || 0) === v ? 0 : v;
      try {
        const r = await api("POST", "comments/" + c.id + "/vote", { value });
        votes[c.id] = r.my_vote;
        c.votes = { up: r.up, down: r.down, score: r.score };
        showVotes(art, c.votes, r.my_vote);
      } catch (err) {
        art.err.textContent = err.message;
      }
      art.voting = false;
    }
    function reply(art, c) {
      if (art.form) return art.form.ta.focus();
      art.form = form({ parent: c, onDone: (posted) => {
        art.form.remove();
        art.form = null;
        art.reply.setAttribute("aria-expanded", "false");
        if (!posted) art.reply.focus();
      } });
      art.reply.setAttribute("aria-expanded", "true");
      art.err.before(art.form);
      art.form.ta.focus();
    }
    function editing(art, c) {
      if (art.form) return art.form.ta.focus();
      art.form = form({ edit: c, onDone: (updated) => {
        if (updated) return replace(c.id, updated).focus();
        art.form.remove();
        art.form = null;
        art.body.hidden = art.acts.hidden = false;
        art.acts.querySelector(".kb-own").focus();
      } });
      art.body.hidden = art.acts.hidden = true;
      art.body.after(art.form);
      art.form.ta.focus();
    }
    function confirmDelete(art, c) {
      const box = h("div", { class: "kb-confirm", role: "group", "aria-label": "Delete this comment?" },
        h("span", { text: "Delete this comment?" }),
        h("button", { type: "button", class: "kb-danger", text: "Yes, delete", onclick: remove }),
        h("button", { type: "button", class: "kb-ghost", text: "Cancel", onclick: () => {
          box.remove();
          art.acts.hidden = false;
          art.acts.querySelector(".kb-own:last-child").focus();
        } }));
      art.acts.hidden = true;
      art.acts.after(box);
      box.children[1].focus();
      async function remove() {
        try {
          const r = await api("DELETE", "comments/" + c.id, null, { "X-Kibitz-Edit-Token": own[c.id].t });
          delete own[c.id];
          store.set("own", own);
          if (!heard.has(c.id)) setCount(count - 1);
          say("Comment deleted");
          const li = nodes.get(c.id);
          if (r.comment) {
            replace(c.id, r.comment).focus();
          } else if (!li) {
            main.ta.focus(); // the live stream took it off the page first
          } else {
            // a "[deleted]" parent left without replies leaves the page too, as on the server
            let gone = li;
            for (let up = nodes.get(c.parent_id); up && up === gone.parentNode.closest("li") &&
              up.firstChild.classList.contains("kb-gone") && gone.parentNode.children.length === 1;
              up = nodes.get(up.c.parent_id)) gone = up;
            const next = gone.nextElementSibling || gone.parentNode.closest("li");
            gone.remove();
            nodes.delete(c.id);
            (next ? next.firstChild : main.ta).focus();
          }
          if (!list.children.length) empty();
        } catch (err) {
          art.err.textContent = err.message;
        }
      }
    }
    function replace(id, c) {
      const li = nodes.get(id);
      const had = li.firstChild.matches(":focus-within");
      li.c = { ...c, replies: [] };
      const art = article(c);
      li.firstChild.replaceWith(art);
      if (had) art.focus();
      return art;
    }
    function added(c) {
      if (c.status === "approved" && !heard.has(c.id)) setCount(count + 1);
      const li = place(c);
      if (c.parent_id) li.firstChild.focus();
    }
    // a comment put where it belongs on the page: a reply under its parent (nothing when the
    // parent is not shown), a new comment first in the newest order, else last
    function place(c) {
      let holder = nodes.get(c.parent_id);
      if (c.parent_id && !holder) return;
      status.textContent = "";
      const li = render(c, holder ? holder.depth + 1 : 0);
      if (!holder) {
        if (sort === "newest") list.prepend(li);
        else list.append(li);
      } else {
        while (holder.depth > MAXD) holder = holder.parentNode.closest("li");
        holder.replies.append(li);
      }
      li.classList.add("kb-new");
      return li;
    }

    /* -- loading, sorting, paging */
    function setCount(n) {
      count = Math.max(0, n);
      title.textContent = plural(count, "Comment");
      emit("count", count);
    }
    function empty() {
      status.textContent = "No comments yet. Be the first.";
    }
    function append(comments) {
      let first = null;
      for (const c of comments) {
        if (nodes.has(c.id)) continue; // already shown (posted here, or a page overlapping)
        const li = render(c, 0);
        list.append(li);
        first = first || li;
      }
      return first;
    }
    function page(size) {
      return api("GET", "comments?thread=" + encodeURIComponent(KEY) + "&sort=" + sort +
        (size ? "&limit=" + size : "") + (cursor ? "&cursor=" + encodeURIComponent(cursor) : "") + filter);
    }
    async function load() {
      const mySeq = ++seq;
      cursor = null;
      list.setAttribute("aria-busy", "true");
      try {
        const data = await page();
        if (mySeq !== seq) return;
        closed = data.thread.closed;
        (closed ? main : shut).replaceWith(closed ? shut : main); // a no-op when not shown
        setCount(data.thread.comment_count);
        list.textContent = "";
        nodes.clear();
        status.textContent = "";
        append(data.comments);
        if (!data.comments.length) empty();
        cursor = data.next_cursor;
        more.hidden = !cursor;
        emit("page", data);
      } catch (err) {
        if (mySeq !== seq) return;
        status.textContent = "";
        status.append(h("p", { class: "kb-alert", text: "The comments could not be loaded. " + err.message }),
          h("button", { type: "button", class: "kb-ghost", text: "Try again", onclick: load }));
      }
      list.removeAttribute("aria-busy");
    }
    async function viewAll() {
      if (more.hasAttribute("aria-disabled")) return;
      const mySeq = seq;
      const jump = seek; // a linked comment takes the focus instead
      more.textContent = "Loading…";
      more.setAttribute("aria-disabled", "true");
      let first = null;
      try {
        while (cursor && mySeq === seq) {
          const data = await page(200);
          if (mySeq !== seq) break;
          const shown = append(data.comments);
          first = first || shown;
          cursor = data.next_cursor;
          emit("page", data);
        }
        more.hidden = !cursor;
        say("All comments shown");
        if (first && !jump) first.firstChild.focus();
      } catch (err) {
        say(err.message);
      }
      more.textContent = "View all comments";
      more.removeAttribute("aria-disabled");
    }
    function setSort(value) {
      if (value === sort) return;
      sort = value;
      store.set("sort", value);
      for (const b of sorts.children) b.setAttribute("aria-pressed", String(b.dataset.sort === value));
      load();
    }
    async function loadMe(asked) {
      try {
        const m = await asked;
        store.set("reader", rid = m.reader);
        guest = m.guest;
        votes = m.votes;
        for (const [id, li] of nodes) {
          if (li.firstChild.up) showVotes(li.firstChild, li.c.votes, votes[id] || 0);
        }
        emit("me", m);
      } catch (e) { /* votes just show unpressed */ }
    }

    /* -- start */
    setCount(0);
    setInterval(() => {
      for (const t of ui.querySelectorAll("time")) t.textContent = ago(t.dateTime);
      for (const b of ui.querySelectorAll(".kb-own")) {
        if (!mine(+b.closest("li").id.slice(15))) b.remove();
      }
    }, 3e4);
    // the reader's own state, asked at once, shown over the first page
    const asked = api("GET", "me?thread=" + encodeURIComponent(KEY));
    asked.catch(() => 0);
    load().then(() => loadMe(asked));
  }
})();
