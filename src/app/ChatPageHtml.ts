/** The sandbox chat page: one self-contained HTML document (no build step, no external assets). */
export const chatPageHtml = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>DingTalk bridge sandbox</title>
<style>
  :root { --blue: #1677ff; --bg: #f5f6f8; --line: #e3e5e8; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
  * { box-sizing: border-box; }
  body { margin: 0; height: 100vh; display: grid; grid-template-columns: 240px 1fr 260px; background: var(--bg); color: #1f2329; }
  aside, main, section { min-height: 0; }
  aside { border-right: 1px solid var(--line); background: #fff; display: flex; flex-direction: column; }
  aside h1 { font-size: 15px; margin: 14px; }
  #chats { list-style: none; margin: 0; padding: 0; overflow: auto; flex: 1; }
  #chats li { padding: 10px 14px; cursor: pointer; border-bottom: 1px solid var(--line); font-size: 14px; }
  #chats li.active { background: #e8f1ff; }
  #chats small { display: block; color: #8f959e; font-size: 11px; }
  .new { display: flex; gap: 6px; padding: 10px; border-top: 1px solid var(--line); }
  .new button { flex: 1; }
  main { display: flex; flex-direction: column; }
  header { padding: 12px 16px; border-bottom: 1px solid var(--line); background: #fff; font-weight: 600; }
  #messages { flex: 1; overflow: auto; padding: 16px; display: flex; flex-direction: column; gap: 10px; }
  .msg { max-width: 75%; padding: 8px 12px; border-radius: 8px; background: #fff; border: 1px solid var(--line); font-size: 14px; line-height: 1.5; }
  .msg.user { align-self: flex-end; background: #d6e8ff; border-color: #b8d5ff; }
  .msg.card { border-left: 3px solid var(--blue); }
  .msg .meta { font-size: 11px; color: #8f959e; margin-bottom: 4px; }
  .msg pre { background: #f2f3f5; padding: 8px; border-radius: 6px; overflow: auto; }
  .msg code { font-family: ui-monospace, monospace; font-size: 12px; }
  .msg h1, .msg h2, .msg h3 { font-size: 15px; margin: 6px 0; }
  form { display: flex; gap: 8px; padding: 12px; border-top: 1px solid var(--line); background: #fff; }
  form input[name=text] { flex: 1; padding: 8px; border: 1px solid var(--line); border-radius: 6px; font-size: 14px; }
  button { padding: 8px 12px; border: 0; border-radius: 6px; background: var(--blue); color: #fff; cursor: pointer; }
  section { border-left: 1px solid var(--line); background: #fff; padding: 14px; font-size: 13px; overflow: auto; }
  section h2 { font-size: 14px; margin: 0 0 8px; }
  dl { display: grid; grid-template-columns: auto 1fr; gap: 4px 10px; margin: 0 0 14px; }
  dt { color: #8f959e; }
  .warn { background: #fff7e6; border: 1px solid #ffd591; padding: 8px; border-radius: 6px; }
  .ok { color: #389e0d; }
  label { font-size: 12px; color: #8f959e; }
  label.attach { font-size: 18px; cursor: pointer; align-self: center; }
  .msg img { max-width: 100%; border-radius: 6px; display: block; margin-top: 4px; }
  .actions { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 8px; }
  .actions button { padding: 4px 10px; font-size: 13px; }
  .actions button.reject { background: #f5222d; }
</style>
</head>
<body>
<aside>
  <h1>DingTalk sandbox</h1>
  <ul id="chats"></ul>
  <div class="new"><button id="new-chat" type="button">New 1:1</button><button id="new-group" type="button">New group</button></div>
</aside>
<main>
  <header id="title">Chat</header>
  <div id="messages" aria-live="polite"></div>
  <form id="composer">
    <input name="sender" value="Sandbox user" aria-label="Your name" style="width:130px">
    <input name="text" placeholder="Message the robot (try /help)" autocomplete="off" aria-label="Message">
    <label class="attach" title="Attach a file or picture (the text goes with it)">📎<input id="attach" type="file" hidden></label>
    <button type="submit">Send</button>
  </form>
</main>
<section>
  <h2>Bridge</h2>
  <dl id="stats"></dl>
  <div id="opencode"></div>
  <p><label>Replies arrive as DingTalk would show them: long answers in numbered parts, and at most
  the configured number of replies per minute (later ones wait; the time of each part shows it).</label></p>
</section>
<script>
const state = { chats: [], active: undefined, shown: "" }
const $ = (id) => document.getElementById(id)
const escapeHtml = (s) => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c])
function inline(s) {
  return escapeHtml(s)
    .replace(/\`([^\`]+)\`/g, "<code>$1</code>")
    .replace(/\\*\\*([^*]+)\\*\\*/g, "<strong>$1</strong>")
    .replace(/\\[([^\\]]+)\\]\\((https?:[^)\\s]+)\\)/g, '<a href="$2" target="_blank" rel="noreferrer">$1</a>')
}
function markdown(text) {
  const out = []
  let code = null
  for (const line of text.split("\\n")) {
    const fence = /^\\s{0,3}(\`{3,}|~{3,})(.*)$/.exec(line)
    if (fence) {
      if (code === null) { code = [] } else { out.push("<pre><code>" + escapeHtml(code.join("\\n")) + "</code></pre>"); code = null }
      continue
    }
    if (code !== null) { code.push(line); continue }
    const heading = /^(#{1,6})\\s+(.*)$/.exec(line)
    if (heading) out.push("<h3>" + inline(heading[2]) + "</h3>")
    else if (/^\\s*[-*]\\s+/.test(line)) out.push("<div>• " + inline(line.replace(/^\\s*[-*]\\s+/, "")) + "</div>")
    else if (line.trim() === "") out.push("<br>")
    else out.push("<div>" + inline(line) + "</div>")
  }
  if (code !== null) out.push("<pre><code>" + escapeHtml(code.join("\\n")) + "</code></pre>")
  return out.join("")
}
// The server puts a per-run token in the page; every API call carries it.
const token = document.querySelector('meta[name="sandbox-token"]').content
async function api(path, body) {
  const headers = { "x-sandbox-token": token }
  const response = await fetch(path, body === undefined ? { headers } : { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: JSON.stringify(body) })
  return response.json()
}
// The agent's permission requests and questions get buttons that send the typed answer (e.g. "/allow 1").
function actionsFor(text) {
  const permission = /^🔐 \\*\\*OpenCode asks for permission\\*\\* \\(#(\\d+)\\)/.exec(text)
  if (permission) {
    const n = permission[1]
    return [["Allow once", "/allow " + n, ""], ["Always", "/always " + n, ""], ["Reject", "/deny " + n, "reject"]]
  }
  const question = /^❓ \\*\\*OpenCode asks\\*\\* \\(#(\\d+)/.exec(text)
  if (question) {
    const options = [...text.matchAll(/^(\\d+)\\. \\*\\*(.+?)\\*\\*/gm)].map((m) => [m[2], m[1], ""])
    return [...options, ["Skip", "/skip " + question[1], "reject"]]
  }
  return []
}
function actionsHtml(text) {
  const actions = actionsFor(text)
  if (actions.length === 0) return ""
  return '<div class="actions">' + actions.map(([label, send, kind]) =>
    '<button type="button" class="' + kind + '" data-send="' + escapeHtml(send) + '">' + escapeHtml(label) + "</button>").join("") + "</div>"
}
function renderChats() {
  $("chats").innerHTML = state.chats.map((c) => '<li data-id="' + c.id + '" class="' + (c.id === state.active ? "active" : "") + '">' +
    escapeHtml(c.title) + "<small>" + (c.type === "2" ? "group" : "1:1") + " · " + escapeHtml(c.id) + "</small></li>").join("")
  for (const li of $("chats").querySelectorAll("li")) li.onclick = () => { state.active = li.dataset.id; state.shown = ""; refresh() }
  const chat = state.chats.find((c) => c.id === state.active)
  $("title").textContent = chat ? chat.title + (chat.type === "2" ? " (group, you @mention the robot)" : " (1:1 with the robot)") : "Chat"
}
async function refresh() {
  const data = await api("/api/state" + (state.active ? "?conversation=" + encodeURIComponent(state.active) : ""))
  state.chats = data.chats
  if (!state.active && data.chats.length > 0) state.active = data.chats[0].id
  renderChats()
  const key = JSON.stringify(data.messages)
  if (key !== state.shown) {
    state.shown = key
    $("messages").innerHTML = data.messages.map((m) => '<div class="msg ' + (m.from === "user" ? "user" : m.from === "card" ? "robot card" : "robot") + '" data-from="' + m.from + '">' +
      '<div class="meta">' + escapeHtml(m.from === "user" ? m.sender : "Robot") + " · " + new Date(m.at).toLocaleTimeString() + (m.route && m.route !== "webhook" ? " · via " + m.route : "") + (m.card ? " · AI card, " + m.card + ", " + m.updates + " calls" : "") + "</div>" +
      (m.from === "user" ? escapeHtml(m.text) : markdown(m.text) + actionsHtml(m.text)) + fileHtml(m.file) + "</div>").join("")
    $("messages").scrollTop = $("messages").scrollHeight
  }
  const s = data.stats
  $("stats").innerHTML = [
    ["DingTalk", s.connection], ["Queue", s.queueDepth + " waiting, " + s.inFlight + " running"], ["Turn p50", s.turnP50 === null ? "—" : s.turnP50 + " ms"],
    ["Received", s.received], ["Replies", s.replies + " (" + s.parts + " parts)"], ["Rate-limit wait", s.rateLimitWaitMs + " ms"],
  ].map(([k, v]) => "<dt>" + k + "</dt><dd>" + escapeHtml(String(v)) + "</dd>").join("")
  $("opencode").innerHTML = data.opencode.reachable
    ? '<p class="ok">OpenCode reachable at ' + escapeHtml(data.opencode.url) + "</p>"
    : '<div class="warn"><strong>OpenCode is not reachable</strong> at ' + escapeHtml(data.opencode.url) +
      '. Start it in your project with <code>opencode serve --port 4096</code> (or set OPENCODE_SERVER_URL), then send your message again.</div>'
}
function fileHtml(file) {
  if (!file) return ""
  const href = escapeHtml(file.href)
  return file.image ? '<a href="' + href + '" target="_blank"><img src="' + href + '" alt="picture from the robot"></a>' : '<div><a href="' + href + '" download>Download</a></div>'
}
$("attach").onchange = async (event) => {
  const input = event.target
  const file = input.files && input.files[0]
  input.value = ""
  if (!file || !state.active) return
  const form = $("composer")
  const bytes = new Uint8Array(await file.arrayBuffer())
  let binary = ""
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000))
  const text = form.text.value.trim()
  form.text.value = ""
  const answer = await api("/api/attach", { conversationId: state.active, sender: form.sender.value || "Sandbox user", fileName: file.name, mime: file.type, base64: btoa(binary), text })
  if (answer.error) alert(answer.error)
  refresh()
}
async function newChat(type) {
  const chat = await api("/api/chats", { type })
  state.active = chat.id
  state.shown = ""
  refresh()
}
$("new-chat").onclick = () => newChat("1")
$("new-group").onclick = () => newChat("2")
$("messages").onclick = async (event) => {
  const button = event.target.closest("button[data-send]")
  if (!button || !state.active) return
  await api("/api/send", { conversationId: state.active, sender: $("composer").sender.value || "Sandbox user", text: button.dataset.send })
  refresh()
}
$("composer").onsubmit = async (event) => {
  event.preventDefault()
  const form = event.target
  const text = form.text.value.trim()
  if (!text || !state.active) return
  form.text.value = ""
  await api("/api/send", { conversationId: state.active, sender: form.sender.value || "Sandbox user", text })
  refresh()
}
refresh()
setInterval(refresh, 700)
</script>
</body>
</html>
`
