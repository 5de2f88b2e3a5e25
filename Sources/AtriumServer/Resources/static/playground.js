// The playground: calls /v1 with a short-lived key of its own, streams chat answers token by token
// (server-sent events), compares embeddings, and shows each run's code from the server's generator.
const root = document.getElementById("playground");
const base = root?.dataset.base ?? "";
let key = null;  // { secret, expiresAt } once the first run asked for it

// The page's key, asked for on the first run (and again a minute before it expires).
async function newKey() {
  const response = await fetch("/playground/key", {
    method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
    body: new URLSearchParams({ csrf: root.dataset.csrf }),
  });
  if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
  const made = await response.json();
  key = { secret: made.key, expiresAt: made.expires_at * 1000 };
}

// A /v1 call with the page's key; a 401 (another playground replaced the key) asks for a new one once.
async function callAPI(path, body, signal) {
  if (!key || key.expiresAt - Date.now() < 60_000) await newKey();
  const call = () => fetch(`${base}${path}`, {
    method: "POST", headers: { Authorization: `Bearer ${key.secret}`, "Content-Type": "application/json" }, body: JSON.stringify(body), signal,
  });
  const response = await call();
  if (response.status !== 401) return response;
  await newKey();
  return call();
}

function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, name) => values[name] ?? "");
}

// The charge as the server computes it: micro-units, rounded up.
function cost(option, prompt, completion) {
  const micros = Math.ceil((prompt * Number(option.dataset.input) + completion * Number(option.dataset.output)) / 1e6);
  let text = (micros / 1e6).toFixed(6);
  while (text.endsWith("0") && text.length - text.indexOf(".") > 3) text = text.slice(0, -1);
  return text;
}

async function failure(response) {
  let message = response.statusText;
  try { message = (await response.json()).error?.message ?? message; } catch {}
  return fill(root.dataset.failed, { status: String(response.status), message });
}

async function showCode(details, params) {
  // Spaces as %20, not URLSearchParams' "+", which the server's query reading keeps as a plus.
  const query = Object.entries(params).map(([name, value]) => `${name}=${encodeURIComponent(value ?? "")}`).join("&");
  const response = await fetch(`/playground/code?${query}`, { headers: { Accept: "application/json" } });
  if (!response.ok) return;
  const samples = await response.json();
  const holder = details.querySelector(".code-tabs");
  holder.replaceChildren();
  for (const [language, label] of [["curl", "curl"], ["python", "Python"], ["javascript", "JavaScript"], ["swift", "Swift"]]) {
    const heading = document.createElement("h4");
    heading.textContent = label;
    const pre = document.createElement("pre");
    pre.className = "code";
    pre.tabIndex = 0;
    const code = document.createElement("code");
    code.dataset.language = language;
    code.textContent = samples[language];
    pre.append(code);
    holder.append(heading, pre);
  }
}

// Chat.
const chatForm = document.getElementById("chat-form");
if (chatForm) {
  const answer = document.getElementById("answer");
  const stats = document.getElementById("chat-stats");
  const send = document.getElementById("send");
  const stop = document.getElementById("stop");
  const regenerate = document.getElementById("regenerate");
  let controller = null;
  let last = null;

  function settings() {
    const data = new FormData(chatForm);
    const body = { model: data.get("model"), messages: [] };
    if (data.get("system").trim()) body.messages.push({ role: "system", content: data.get("system") });
    body.messages.push({ role: "user", content: data.get("message") });
    for (const name of ["temperature", "top_p"]) if (data.get(name) !== "") body[name] = Number(data.get(name));
    for (const name of ["max_tokens", "seed"]) if (data.get(name) !== "") body[name] = Math.trunc(Number(data.get(name)));
    body.stream = true;
    body.stream_options = { include_usage: true };
    return body;
  }

  async function run(body) {
    last = body;
    controller = new AbortController();
    send.disabled = regenerate.disabled = true;
    stop.disabled = false;
    answer.textContent = "";
    answer.setAttribute("aria-busy", "true");
    stats.textContent = "";
    const started = performance.now();
    const option = chatForm.querySelector(`#chat-model option[value="${CSS.escape(body.model)}"]`);
    try {
      const response = await callAPI("/v1/chat/completions", body, controller.signal);
      if (!response.ok) { stats.textContent = await failure(response); return; }
      const decoder = new TextDecoder();
      let buffered = "";
      for await (const bytes of response.body) {
        buffered += decoder.decode(bytes, { stream: true });
        const lines = buffered.split("\n");
        buffered = lines.pop();
        for (const line of lines) {
          if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
          const chunk = JSON.parse(line.slice(6));
          const piece = chunk.choices?.[0]?.delta?.content;
          if (piece) answer.textContent += piece;
          if (chunk.usage) {
            const seconds = ((performance.now() - started) / 1000).toFixed(1);
            stats.textContent = fill(root.dataset.usage, {
              prompt: chunk.usage.prompt_tokens, completion: chunk.usage.completion_tokens,
              cost: cost(option, chunk.usage.prompt_tokens, chunk.usage.completion_tokens), seconds,
            });
          }
        }
      }
    } catch (error) {
      stats.textContent = error.name === "AbortError" ? root.dataset.stopped : String(error);
    } finally {
      answer.setAttribute("aria-busy", "false");
      send.disabled = regenerate.disabled = false;
      stop.disabled = true;
      controller = null;
    }
    const data = new FormData(chatForm);
    showCode(document.getElementById("chat-code"), {
      operation: "chat", model: body.model, system: data.get("system"), message: data.get("message"),
      temperature: data.get("temperature"), top_p: data.get("top_p"), max_tokens: data.get("max_tokens"), seed: data.get("seed"),
    });
  }

  chatForm.addEventListener("submit", (event) => { event.preventDefault(); run(settings()); });
  stop.addEventListener("click", () => controller?.abort());
  regenerate.addEventListener("click", () => last && run(last));
}

// Embeddings: cosine similarity of every pair of texts.
const embedForm = document.getElementById("embed-form");
if (embedForm) {
  const table = document.getElementById("similarities");
  const stats = document.getElementById("embed-stats");
  embedForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(embedForm);
    const texts = data.get("texts").split("\n").map((t) => t.trim()).filter(Boolean).slice(0, 16);
    if (texts.length === 0) return;
    const model = data.get("model");
    let response;
    try {
      response = await callAPI("/v1/embeddings", { model, input: texts });
    } catch (error) {
      stats.textContent = String(error);
      return;
    }
    if (!response.ok) { stats.textContent = await failure(response); return; }
    const result = await response.json();
    const vectors = result.data.sort((a, b) => a.index - b.index).map((d) => d.embedding);
    const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    const cosine = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0) / (norm(a) * norm(b));
    const grid = document.createElement("table");
    const caption = grid.createCaption();
    caption.textContent = root.dataset.similarity;
    const head = grid.createTHead().insertRow();
    head.append(document.createElement("td"));
    texts.forEach((_, i) => { const th = document.createElement("th"); th.scope = "col"; th.textContent = `#${i + 1}`; head.append(th); });
    const body = grid.createTBody();
    texts.forEach((text, i) => {
      const row = body.insertRow();
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = `#${i + 1} ${text.length > 40 ? text.slice(0, 40) + "…" : text}`;
      row.append(th);
      vectors.forEach((other) => { row.insertCell().textContent = cosine(vectors[i], other).toFixed(3); });
    });
    const wrap = document.createElement("div");
    wrap.className = "table-wrap";
    wrap.append(grid);
    table.replaceChildren(wrap);
    const option = embedForm.querySelector(`#embed-model option[value="${CSS.escape(model)}"]`);
    stats.textContent = fill(root.dataset.usage, { prompt: result.usage.prompt_tokens, completion: 0, cost: cost(option, result.usage.prompt_tokens, 0), seconds: "" });
    showCode(document.getElementById("embed-code"), { operation: "embeddings", model, input: texts.join("\n") });
  });
}
