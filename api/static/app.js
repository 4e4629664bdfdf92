// The chat page: talks to the OpenAI-compatible endpoint with stream: true and renders
// the structured citations that arrive on the final chunk. No build step, no framework.
"use strict";

const KEY_STORE = "article-qa-key";
const conversation = document.getElementById("conversation");
const form = document.getElementById("ask-form");
const input = document.getElementById("message");
const send = document.getElementById("send");
const keyBar = document.getElementById("key-bar");
const keyInput = document.getElementById("api-key");
const panel = document.getElementById("passage");

// The history sent with every question: follow-ups are resolved against it server-side.
let history = [];

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;  // never innerHTML: article text is data
  return node;
}

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = localStorage.getItem(KEY_STORE);
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

function scrollDown() { window.scrollTo(0, document.body.scrollHeight); }

function sourceLine(c) {
  const who = [c.author, c.source, c.date].filter(Boolean).join(", ");
  return who;
}

function safeUrl(url) {
  try {
    const u = new URL(url);
    return (u.protocol === "http:" || u.protocol === "https:") ? u.href : null;
  } catch { return null; }
}

// One source is one article: every passage cited from it, the answer marked in its own.
function openPassage(group) {
  const c = group[0];
  document.getElementById("passage-title").textContent = `[${c.number}] ${c.title || c.article_id}`;
  document.getElementById("passage-meta").textContent =
    [c.author && "by " + c.author, c.source, c.date].filter(Boolean).join(" · ") || c.article_id;
  const link = document.getElementById("passage-link");
  link.replaceChildren();
  const href = c.url && safeUrl(c.url);
  if (href) {
    const a = el("a", { href, target: "_blank", rel: "noopener noreferrer" }, c.url);
    link.append(a);
  } else {
    link.textContent = "article id: " + c.article_id;
  }
  const quote = document.getElementById("passage-text");
  quote.replaceChildren();
  for (const p of group) {
    const para = el("p", { class: "passage" });
    if (p.answer_start !== null && p.answer_end !== null) {
      para.append(p.text.slice(0, p.answer_start),
                  el("mark", {}, p.text.slice(p.answer_start, p.answer_end)),
                  p.text.slice(p.answer_end));
    } else {
      para.textContent = p.text;
    }
    quote.append(para);
  }
  panel.hidden = false;
  panel.dataset.number = String(c.number);
  panel.scrollTop = 0;
  quote.querySelector("mark")?.scrollIntoView({ block: "nearest" });
}

function citeButton(group) {
  const c = group[0];
  const b = el("button", { type: "button", class: "cite", "data-number": String(c.number),
                           title: c.title || c.article_id }, `[${c.number}]`);
  b.addEventListener("click", () => openPassage(group));
  return b;
}

// The citations grouped by number (one group per article), the answer's passage first.
function groupByNumber(citations) {
  const groups = new Map();
  for (const c of citations) {
    if (!groups.has(c.number)) groups.set(c.number, []);
    const g = groups.get(c.number);
    if (c.answer_start !== null) g.unshift(c); else g.push(c);
  }
  return groups;
}

// Text with [n] markers turned into buttons for the citations that exist.
function withMarkers(text, byNumber) {
  const frag = document.createDocumentFragment();
  let last = 0;
  for (const m of text.matchAll(/\[(\d+)\]/g)) {
    const group = byNumber.get(Number(m[1]));
    if (!group) continue;
    frag.append(text.slice(last, m.index), citeButton(group));
    last = m.index + m[0].length;
  }
  frag.append(text.slice(last));
  return frag;
}

function renderFinal(node, text, answer) {
  const byNumber = groupByNumber(answer.citations);
  node.replaceChildren();
  node.classList.remove("pending");
  node.classList.toggle("not-found", answer.abstained);
  // The text's own Sources list is for text-only clients; the page lists them itself.
  const body = text.split(/\n\n(?:Sources|Closest passages):\n/)[0];
  if (answer.unclear) {
    node.append(el("div", { class: "badge" }, "Unclear"));
    node.append(el("div", { class: "answer-text" }, answer.note || ""));
  } else if (answer.abstained) {
    node.append(el("div", { class: "badge" }, "Not in the articles"));
    const rest = body.replace(/^Not in the articles:\s*/, "");
    node.append(el("div", { class: "answer-text" }, rest.charAt(0).toUpperCase() + rest.slice(1)));
  } else {
    const [first, ...rest] = body.split("\n\n");
    const line = el("div", { class: "answer" });
    line.append(withMarkers(first, byNumber));
    node.append(line);
    for (const para of rest) {
      const q = el(para.startsWith("> ") ? "blockquote" : "p");
      q.append(withMarkers(para.replace(/^> /, ""), byNumber));
      node.append(q);
    }
  }
  if (answer.citations.length) {
    const list = el("ol", { class: "sources" });
    const groups = [...byNumber.values()];
    const shown = answer.abstained ? groups.slice(0, 3) : groups;
    for (const group of shown) {
      const c = group[0];
      const li = el("li");
      li.append(citeButton(group), el("span", { class: "title" }, c.title || c.article_id));
      if (group.length > 1) li.append(el("span", { class: "count" }, ` (${group.length} passages)`));
      const also = (c.also_reported_by || []).map((r) => (r.source || r.title || r.article_id) + (r.date ? ` (${r.date})` : ""));
      if (also.length) li.append(el("div", { class: "also" }, "also reported by " + also.join(", ")));
      const who = sourceLine(c);
      if (who) li.append(" — " + who);
      list.append(li);
    }
    node.append(el("div", { class: "searched" },
      answer.abstained ? "Closest passages:" : "Sources:"), list);
  }
  if (answer.searched_query && answer.searched_query !== answer.question) {
    node.append(el("div", { class: "searched" }, "searched for: " + answer.searched_query));
  }
  node.classList.add("done");
}

function showError(node, message) {
  node.className = "message assistant error done";
  node.textContent = message;
}

async function errorMessage(res) {
  try {
    const body = await res.json();
    return (body.error && body.error.message) || res.statusText;
  } catch { return `${res.status} ${res.statusText}`; }
}

async function ask(question) {
  document.getElementById("hint")?.remove();
  conversation.append(el("div", { class: "message user" }, question));
  const node = el("div", { class: "message assistant pending" }, "…");
  conversation.append(node);
  scrollDown();
  history.push({ role: "user", content: question });
  send.disabled = true;
  let text = "";
  let answer = null;
  try {
    const res = await fetch("/v1/chat/completions", {
      method: "POST", headers: headers(),
      body: JSON.stringify({ model: "article-qa", stream: true, messages: history }),
    });
    if (res.status === 401) {
      keyBar.hidden = false;
      keyInput.focus();
      throw new Error(await errorMessage(res));
    }
    if (!res.ok) throw new Error(await errorMessage(res));
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let started = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        for (const line of event.split("\n")) {
          if (!line.startsWith("data: ")) continue;
          const data = line.slice(6);
          if (data === "[DONE]") continue;
          const chunk = JSON.parse(data);
          const delta = chunk.choices?.[0]?.delta?.content;
          if (delta) {
            if (!started) { node.textContent = ""; started = true; }
            text += delta;
            node.textContent = text;  // streamed in as plain text; markers come alive below
            scrollDown();
          }
          if (chunk.answer) answer = chunk.answer;
        }
      }
    }
    if (!answer) throw new Error("the answer stream ended early");
    renderFinal(node, text, answer);
    history.push({ role: "assistant", content: text });
  } catch (err) {
    history.pop();  // the question got no answer: do not carry it into the next one
    showError(node, "Error: " + err.message);
  } finally {
    send.disabled = false;
    scrollDown();
  }
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  const q = input.value.trim();
  if (!q || send.disabled) return;
  input.value = "";
  ask(q);
});

input.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) {
    e.preventDefault();
    form.requestSubmit();
  }
});

for (const b of document.querySelectorAll(".example")) {
  b.addEventListener("click", () => { input.value = b.textContent; form.requestSubmit(); });
}

document.getElementById("new-chat").addEventListener("click", () => {
  history = [];
  panel.hidden = true;
  conversation.replaceChildren(el("p", { class: "hint", id: "hint" },
    "New conversation. Ask a question about the articles."));
  input.focus();
});

document.getElementById("close-passage").addEventListener("click", () => { panel.hidden = true; });

document.getElementById("save-key").addEventListener("click", () => {
  const key = keyInput.value.trim();
  if (key) localStorage.setItem(KEY_STORE, key); else localStorage.removeItem(KEY_STORE);
  keyBar.hidden = true;
});
