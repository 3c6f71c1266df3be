// The page of `disco-pyserini serve`: plain JavaScript, no build step. Text from the server is
// always put in the page as text (textContent), never as HTML.
"use strict";

const MODE_NAMES = {
  raw: "raw: the current question alone",
  disco: "disco: the whole conversation, flattened",
  history: "history: every question, newest first",
  rewrite: "rewrite: the rewritten question",
};
const ORIGIN_NAMES = {
  question: "current question", earlier_question: "earlier question", earlier_answer: "earlier answer",
  rewrite: "rewrite", expansion: "expansion",
};
const TERMS_SHOWN = 14;
const SEP = " [SEP] ";

const state = { turns: [{ question: "", answer: "" }], view: "all", results: null, examples: [] };
const $ = (id) => document.getElementById(id);

// Offsets from the server count code points (Python's str indices); a JavaScript string counts UTF-16
// units, two for a character outside the BMP (an emoji), so text is sliced as an array of code points.
function codePoints(text) {
  const points = Array.from(text);
  return { length: points.length, slice: (start, end) => points.slice(start, end).join("") };
}

function element(tag, options = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(options)) {
    if (key === "text") node.textContent = value;
    else if (key === "className") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

// -- the conversation being typed -------------------------------------------------------------------------
function renderTurns() {
  const list = $("turns");
  list.replaceChildren();
  state.turns.forEach((turn, index) => {
    const last = index === state.turns.length - 1;
    const question = element("input", {
      type: "text", className: "question", autocomplete: "off", "aria-label": `question ${index + 1}`,
      placeholder: last ? "The question to search" : `Question ${index + 1}`,
    });
    question.value = turn.question;
    question.addEventListener("input", () => { turn.question = question.value; });
    const answer = element("textarea", {
      className: "answer", rows: "2", "aria-label": `answer to question ${index + 1}`,
      placeholder: "Its answer (optional)",
    });
    answer.value = turn.answer;
    answer.addEventListener("input", () => { turn.answer = answer.value; });
    list.append(element("li", { className: last ? "current" : "" }, [question, answer]));
  });
  $("remove-turn").disabled = state.turns.length < 2;
}

function addTurn() {
  state.turns.push({ question: "", answer: "" });
  renderTurns();
  const questions = document.querySelectorAll("#turns .question");
  questions[questions.length - 1].focus();
}

function removeTurn() {
  if (state.turns.length > 1) state.turns.pop();
  renderTurns();
}

function loadExample() {
  const example = state.examples.find((e) => e.qid === $("examples").value);
  if (!example) return;
  state.turns = example.conversation.map(([question, answer]) => ({ question, answer: answer || "" }));
  $("rewrite").value = example.rewrite || "";
  renderTurns();
  search();
}

// -- talking to the server -----------------------------------------------------------------------------------
async function call(path, body) {
  const response = await fetch(path, body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  let data = null;
  try { data = await response.json(); } catch (error) { data = null; }
  if (!response.ok) {
    const message = data && data.error ? data.error.message : `${response.status} ${response.statusText}`;
    throw new Error(message);
  }
  return data;
}

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

async function search() {
  const turns = state.turns.map((t) => ({ question: t.question.trim(), answer: t.answer.trim() }));
  const empty = turns.findIndex((t) => !t.question);
  if (empty >= 0) {
    showError(`Question ${empty + 1} is empty: type it, or remove the turn.`);
    return;
  }
  const conversation = turns.map((t, i) => [t.question, i === turns.length - 1 ? null : (t.answer || null)]);
  const rewrite = $("rewrite").value.trim();
  const body = { conversation, model: $("model").value || undefined, k: Number($("k").value) || 10 };
  if (rewrite) body.rewrite = rewrite;
  $("search").disabled = true;
  $("search").textContent = "Searching…";
  try {
    state.results = await call("search", body);
    showError("");
    renderResults();
  } catch (error) {
    showError(error.message);
  } finally {
    $("search").disabled = false;
    $("search").textContent = "Search";
  }
}

// -- results -------------------------------------------------------------------------------------------------
function renderViews() {
  const nav = $("views");
  nav.replaceChildren();
  if (!state.results) return;
  const modes = state.results.results.map((r) => r.mode);
  if (state.view !== "all" && !modes.includes(state.view)) state.view = "all";
  for (const view of ["all", ...modes]) {
    const button = element("button", {
      type: "button", "aria-pressed": String(state.view === view), dataset: { view },
      text: view === "all" ? "Side by side" : view,
    });
    button.addEventListener("click", () => { state.view = view; renderViews(); showColumns(); });
    nav.append(button);
  }
}

function showColumns() {
  for (const column of document.querySelectorAll("#columns .column")) {
    column.hidden = state.view !== "all" && column.dataset.mode !== state.view;
  }
}

function queryText(query) {
  // the text the model reads, each part underlined in the colour of its origin; what truncation cut is struck out
  const box = element("div", { className: "query-text" });
  const text = codePoints(query.text);
  const kept = query.kept_characters;
  query.segments.forEach((segment, index) => {
    if (index > 0) box.append(element("span", { className: "sep", text: SEP }));
    const title = segment.turn ? `${ORIGIN_NAMES[segment.origin]} (turn ${segment.turn})` : ORIGIN_NAMES[segment.origin];
    const part = element("span", { className: `segment origin-${segment.origin}`, title });
    const end = Math.min(segment.end, Math.max(segment.start, kept));
    part.append(text.slice(segment.start, end));
    if (end < segment.end) part.append(element("span", { className: "cut", text: text.slice(end, segment.end) }));
    box.append(part);
  });
  return box;
}

function termChip(term) {
  const chip = element("span", {
    className: `chip origin-${term.origin}`, title: `${ORIGIN_NAMES[term.origin]}, weight ${term.weight}`,
  });
  chip.append(term.term, element("small", { text: String(term.weight) }));
  return chip;
}

function passage(text, highlights, origins) {
  const node = element("p", { className: "passage" });
  if (text === null) {
    node.append(element("em", { text: "(no passage text: the server has no collection for this index)" }));
    return node;
  }
  const points = codePoints(text);
  let at = 0;
  for (const [start, end, term] of highlights) {
    if (start < at) continue;
    node.append(points.slice(at, start));
    node.append(element("mark", {
      className: `origin-${origins[term] || "expansion"}`, text: points.slice(start, end),
      title: `${term}: ${ORIGIN_NAMES[origins[term] || "expansion"]}`,
    }));
    at = end;
  }
  node.append(points.slice(at));
  return node;
}

function contributions(hit) {
  // each matched term in the colour of its origin (the legend), with query weight × document weight
  const rows = hit.terms.map((c) => element("tr", {}, [
    element("td", {
      className: `origin-text ${c.origin}`, text: c.term, title: `${c.term}: ${ORIGIN_NAMES[c.origin]}`,
    }),
    element("td", { text: String(c.query_weight) }), element("td", { text: String(c.document_weight) }),
    element("td", { text: String(c.contribution) }),
  ]));
  const lucene = hit.score === null ? "" : `Lucene's score ${hit.score.toFixed(4)}${hit.exact ? "" : " (not exact)"}`;
  const table = element("table", { className: "contributions" }, [
    element("thead", {}, [element("tr", {}, ["term", "query", "doc", "query × doc"].map(
      (name) => element("th", { text: name })))]),
    element("tbody", {}, rows),
    element("tfoot", {}, [element("tr", {}, [
      element("td", { text: "sum" }), element("td"), element("td"), element("td", { text: String(hit.dot_product) }),
    ])]),
  ]);
  return element("div", { className: "contributions-box" }, [table, element("p", { className: "meta", text: lucene })]);
}

function hitItem(hit, origins) {
  const item = element("li", { className: "hit", dataset: { docId: hit.doc_id } });
  item.append(element("div", { className: "hit-head" }, [
    element("span", { text: `#${hit.rank} ${hit.doc_id}` }),
    element("span", { className: "score", text: String(hit.dot_product), title: "the score: Σ query × doc" }),
  ]));
  item.append(passage(hit.text, hit.highlights, origins));
  const why = element("button", {
    type: "button", className: "why", "aria-expanded": "false", text: `why? ${hit.terms.length} matched terms`,
  });
  let table = null;
  why.addEventListener("click", () => {
    if (table) {
      table.remove();
      table = null;
    } else {
      table = contributions(hit);
      item.append(table);
    }
    why.setAttribute("aria-expanded", String(table !== null));
  });
  item.append(why);
  return item;
}

function column(result) {
  const origins = Object.fromEntries(result.terms.map((t) => [t.term, t.origin]));
  const section = element("section", { className: "column", dataset: { mode: result.mode } });
  section.append(element("h3", { text: MODE_NAMES[result.mode] || result.mode }));
  section.append(queryText(result.query));
  const truncated = result.query.truncated ? " · truncated: the struck-out text is not read" : "";
  section.append(element("p", {
    className: "meta", text: `${result.query.input_tokens} input tokens · ${result.terms.length} query terms${truncated}`,
  }));
  section.append(element("div", { className: "terms", "aria-label": "heaviest query terms" },
    result.terms.slice(0, TERMS_SHOWN).map(termChip)));
  const hits = element("ol", { className: "hits" }, result.hits.map((hit) => hitItem(hit, origins)));
  if (!result.hits.length) hits.append(element("li", { className: "meta", text: "no hits: no query term is in the index" }));
  section.append(hits);
  return section;
}

function renderResults() {
  $("placeholder").hidden = true;
  $("columns").replaceChildren(...state.results.results.map(column));
  renderViews();
  showColumns();
}

// -- start ---------------------------------------------------------------------------------------------------
async function start() {
  renderTurns();
  $("add-turn").addEventListener("click", addTurn);
  $("remove-turn").addEventListener("click", removeTurn);
  $("search").addEventListener("click", search);
  $("examples").addEventListener("change", loadExample);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) search();
  });
  try {
    const health = await call("health");
    $("server").textContent = `index ${health.index} · ${health.documents} documents · ` +
      `modes ${health.modes.join(", ")} · limits: ${health.limits.max_turns} turns, ` +
      `${health.limits.max_characters} characters, k ≤ ${health.limits.max_hits}`;
    $("model").replaceChildren(...health.models.map((m) => element("option", { value: m, text: m })));
    $("k").max = String(health.limits.max_hits);
    state.examples = await call("examples");
    if (state.examples.length) {
      $("examples").append(...state.examples.map((e) => element("option", {
        value: e.qid, text: `${e.qid}: ${e.conversation[e.conversation.length - 1][0]}`,
      })));
      $("examples-label").hidden = false;
    }
    document.body.dataset.ready = "true";
  } catch (error) {
    $("server").textContent = `the server does not answer: ${error.message}`;
  }
}

start();
