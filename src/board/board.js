// The Maestro board (SPEC §14): a client of the public API like any other.
// State comes over HTTP; the WebSocket keeps it live and, after a drop, resumes
// with ?since=&serverId= or, when the server cannot replay, the state is reloaded.
'use strict';

const STATUSES = [
  { value: 'todo', words: 'To do' },
  { value: 'in_progress', words: 'In progress' },
  { value: 'blocked', words: 'Blocked' },
  { value: 'completed', words: 'Completed' },
  { value: 'cancelled', words: 'Cancelled' },
];
const STATUS_WORDS = Object.fromEntries(STATUSES.map((s) => [s.value, s.words]));
const PRIORITY_RANK = { high: 0, medium: 1, low: 2 };
/** Sessions that need a person's eye come first in the list. */
const SESSION_RANK = { needs_input: 0, stale: 1, spawning: 2, working: 2, running: 2, idle: 3 };
const TOKEN_KEY = 'maestro.token';
const RETRY_MAX_MS = 3000;
/**
 * The page pings this often, and gives up a connection that has sent nothing since
 * the previous ping: a sleeping laptop or a dropped network can leave a socket that
 * never reports its own death. (A test may set it lower.)
 */
const QUIET_MS = globalThis.MAESTRO_BOARD_QUIET_MS ?? 20000;
/** Cards drawn per column until "Show all": a column of thousands stays quick to draw. */
const COLUMN_LIMIT = 100;

const state = {
  token: sessionStorage.getItem(TOKEN_KEY) ?? '',
  projects: new Map(),
  tasks: new Map(),
  sessions: new Map(),
  projectId: decodeURIComponent(location.hash.slice(1)) || null,
  serverId: null,
  seq: null,
  /** Whether the current connection asked to resume (sent `since`). */
  resuming: false,
  socket: null,
  retryMs: 0,
  retryTimer: undefined,
  /** Bumped by each reload; an answer for an older one is dropped. */
  generation: 0,
  /** Messages that arrive while a reload is under way, applied after it. */
  queued: null,
  openTaskId: null,
  /** Bumped whenever a session changes: cards show session names and colours. */
  sessionsVersion: 0,
  /** Columns the user asked to see in full. */
  expanded: new Set(),
  renderPending: false,
};

const $ = (id) => document.getElementById(id);

/** Builds an element; strings become text nodes, so data never becomes markup. */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key in node && key !== 'list') node[key] = value;
    else node.setAttribute(key, value === true ? '' : value);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

const statusOf = (task) => (task.status === 'pending' ? 'todo' : task.status);
const words = (value) => String(value).replaceAll('_', ' ');

function ago(ms) {
  const seconds = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (seconds < 45) return 'just now';
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

// ---- HTTP -----------------------------------------------------------------

class Unauthorized extends Error {}

async function api(method, path, body) {
  const headers = {};
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method, headers, cache: 'no-store', body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await res.json().catch(() => null);
  if (res.status === 401) {
    askForToken(state.token ? 'The server refused that token.' : '');
    throw new Unauthorized('token needed');
  }
  if (!res.ok) throw new Error(data?.message ?? `HTTP ${res.status}`);
  return data;
}

// ---- Token ----------------------------------------------------------------

function askForToken(error) {
  clearTimeout(state.retryTimer);
  state.token = '';
  sessionStorage.removeItem(TOKEN_KEY);
  closeSocket();
  setConnection('disconnected');
  $('app').hidden = true;
  $('empty').hidden = true;
  $('picker').hidden = true;
  $('token-form').hidden = false;
  $('token-error').hidden = !error;
  $('token-error').textContent = error;
  $('token').focus();
}

$('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  state.token = $('token').value.trim();
  if (!state.token) return;
  sessionStorage.setItem(TOKEN_KEY, state.token);
  $('token').value = '';
  $('token-form').hidden = true;
  void start();
});

// ---- Live updates ---------------------------------------------------------

function setConnection(kind) {
  const text = { connected: 'Connected', connecting: 'Connecting…', reconnecting: 'Reconnecting…', disconnected: 'Disconnected' }[kind];
  const node = $('connection');
  node.textContent = text;
  node.dataset.state = kind;
}

function closeSocket() {
  const socket = state.socket;
  state.socket = null;
  socket?.close();
}

function connect() {
  const params = new URLSearchParams();
  if (state.serverId !== null && state.seq !== null) {
    params.set('since', String(state.seq));
    params.set('serverId', state.serverId);
  }
  state.resuming = params.has('since');
  if (state.token) params.set('token', state.token);
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const query = params.toString();
  const socket = new WebSocket(`${scheme}//${location.host}/${query ? `?${query}` : ''}`);
  state.socket = socket;
  const watch = watchSilence(socket);
  socket.addEventListener('message', (event) => {
    if (state.socket !== socket) return;
    watch.heard();
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    onMessage(message);
  });
  socket.addEventListener('close', () => {
    watch.stop();
    if (state.socket === socket) dropped();
  });
}

function dropped() {
  state.socket = null;
  setConnection('reconnecting');
  retryLater();
}

/** Pings a quiet socket; one that stays quiet after the ping is abandoned and replaced. */
function watchSilence(socket) {
  let pinged = false;
  const timer = setInterval(() => {
    if (state.socket !== socket) return clearInterval(timer);
    if (pinged) {
      clearInterval(timer);
      socket.close();
      return dropped();
    }
    pinged = true;
    if (socket.readyState === WebSocket.OPEN) socket.send('{"type":"ping"}');
  }, QUIET_MS);
  return { heard: () => { pinged = false; }, stop: () => clearInterval(timer) };
}

function retryLater() {
  state.retryMs = Math.min(RETRY_MAX_MS, Math.max(200, state.retryMs * 2));
  clearTimeout(state.retryTimer);
  state.retryTimer = setTimeout(() => void reconnect(), state.retryMs);
}

/** Asks over HTTP first: it tells a server still down from one that now wants a (new) token. */
async function reconnect() {
  try {
    await api('GET', '/api/projects');
  } catch (err) {
    if (!(err instanceof Unauthorized)) retryLater();
    return;
  }
  connect();
}

function onMessage(message) {
  if (message.type === 'hello') return onHello(message.data ?? {});
  if (message.type === 'pong') return;
  if (typeof message.seq === 'number') state.seq = message.seq;
  if (state.queued) state.queued.push(message);
  else applyEvent(message);
}

/**
 * A hello that says `replayed` to the resume we asked for continues where we were; any
 * other (a first connection, a `resync`, another server, a server that does not replay)
 * means the state is reloaded.
 */
function onHello(hello) {
  setConnection('connected');
  state.retryMs = 0;
  const resumed = state.resuming && typeof hello.replayed === 'number' && !hello.resync && hello.serverId === state.serverId;
  if (resumed) return;
  state.serverId = hello.serverId ?? null;
  state.seq = typeof hello.seq === 'number' ? hello.seq : null;
  void reloadAll();
}

function applyEvent(message) {
  const [kind, action] = String(message.type).split(':');
  const map = { project: state.projects, task: state.tasks, session: state.sessions }[kind];
  if (!map || !message.data) return;
  if (action === 'deleted') {
    map.delete(message.data.id);
    if (kind === 'project' && message.data.id === state.projectId) return void reloadAll();
  } else if (action === 'created' || action === 'updated') {
    if (kind !== 'project' && message.data.projectId !== state.projectId) return;
    if (kind === 'project' && state.projects.size === 0) return void reloadAll();
    keep(map, message.data);
  } else {
    return; // link and subtask events are followed by the *:updated of each entity
  }
  if (kind === 'session') state.sessionsVersion++;
  scheduleRender();
}

/** Keeps the newer of what we hold and what arrived, so a late answer never undoes an event. */
function keep(map, entity) {
  const known = map.get(entity.id);
  if (!known || (entity.version ?? 0) >= (known.version ?? 0)) map.set(entity.id, entity);
}

// ---- Loading --------------------------------------------------------------

async function reloadAll() {
  const generation = ++state.generation;
  state.queued = [];
  try {
    const projects = await api('GET', '/api/projects');
    const projectId = projects.some((p) => p.id === state.projectId) ? state.projectId : projects[0]?.id ?? null;
    const query = projectId ? `?projectId=${encodeURIComponent(projectId)}` : '';
    const [tasks, sessions] = projectId
      ? await Promise.all([api('GET', `/api/tasks${query}`), api('GET', `/api/sessions${query}`)])
      : [[], []];
    if (generation !== state.generation) return;
    state.projectId = projectId;
    state.projects = new Map(projects.map((p) => [p.id, p]));
    state.tasks = new Map(tasks.map((t) => [t.id, t]));
    state.sessions = new Map(sessions.map((s) => [s.id, s]));
    state.sessionsVersion++;
  } catch (err) {
    if (generation !== state.generation) return;
    if (!(err instanceof Unauthorized)) notify(`Could not load the board: ${err.message}`);
  }
  const queued = state.queued ?? [];
  state.queued = null;
  for (const message of queued) applyEvent(message);
  render();
}

async function start() {
  setConnection('connecting');
  try {
    await api('GET', '/api/projects');
  } catch (err) {
    if (err instanceof Unauthorized) return;
    setConnection('reconnecting');
    retryLater();
    return;
  }
  $('token-form').hidden = true;
  connect();
}

// ---- Actions --------------------------------------------------------------

async function changeStatus(task, status) {
  try {
    keep(state.tasks, await api('PATCH', `/api/tasks/${encodeURIComponent(task.id)}`, { status }));
  } catch (err) {
    if (!(err instanceof Unauthorized)) notify(`Could not move “${task.title}”: ${err.message}`);
  }
  scheduleRender();
}

$('create-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const title = $('new-title').value.trim();
  if (!title || !state.projectId) return;
  const button = event.submitter ?? $('create-form').querySelector('button');
  button.disabled = true;
  try {
    const task = await api('POST', '/api/tasks', { projectId: state.projectId, title, priority: $('new-priority').value });
    if (task.projectId === state.projectId) keep(state.tasks, task);
    $('new-title').value = '';
    scheduleRender();
  } catch (err) {
    if (!(err instanceof Unauthorized)) notify(`Could not create the task: ${err.message}`);
  } finally {
    button.disabled = false;
  }
});

$('project').addEventListener('change', () => {
  state.projectId = $('project').value;
  history.replaceState(null, '', `#${encodeURIComponent(state.projectId)}`);
  state.tasks.clear();
  state.sessions.clear();
  state.sessionsVersion++;
  state.expanded.clear();
  closeDetails();
  render();
  void reloadAll();
});

let noticeTimer;
function notify(text) {
  const node = $('notice');
  node.textContent = text;
  node.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { node.hidden = true; }, 6000);
}

// ---- Rendering ------------------------------------------------------------

function scheduleRender() {
  if (state.renderPending) return;
  state.renderPending = true;
  requestAnimationFrame(() => {
    state.renderPending = false;
    render();
  });
}

function render() {
  const hasProjects = state.projects.size > 0;
  $('app').hidden = !hasProjects;
  $('empty').hidden = hasProjects;
  $('picker').hidden = !hasProjects;
  renderProjects();
  const focused = document.activeElement?.dataset?.key;
  renderBoard();
  renderSessions();
  renderDetails();
  if (focused) document.querySelector(`[data-key="${CSS.escape(focused)}"]`)?.focus();
}

function renderProjects() {
  const select = $('project');
  const projects = [...state.projects.values()];
  select.replaceChildren(...projects.map((p) => el('option', { value: p.id }, p.name)));
  select.disabled = projects.length === 0;
  if (state.projectId) select.value = state.projectId;
  document.title = state.projects.get(state.projectId) ? `${state.projects.get(state.projectId).name} · Maestro board` : 'Maestro board';
}

function sessionName(id) {
  return state.sessions.get(id)?.name || id;
}

function columnOrder(status) {
  // Work waiting to be picked: in the order agents claim it. Elsewhere: the latest change first.
  if (status === 'todo') return (a, b) => PRIORITY_RANK[a.priority] - PRIORITY_RANK[b.priority] || a.createdAt - b.createdAt;
  return (a, b) => b.updatedAt - a.updatedAt;
}

function renderBoard() {
  const tasks = [...state.tasks.values()];
  $('board').replaceChildren(...STATUSES.map(({ value, words: name }) => {
    const cards = tasks.filter((t) => statusOf(t) === value).sort(columnOrder(value));
    const shown = state.expanded.has(value) ? cards : cards.slice(0, COLUMN_LIMIT);
    const showAll = () => { state.expanded.add(value); render(); };
    return el('section', { class: `column status-${value}`, 'aria-label': `${name} (${cards.length})` },
      el('h2', { class: 'column-head' }, el('span', {}, name), el('span', { class: 'count', 'aria-hidden': 'true' }, String(cards.length))),
      cards.length ? el('div', { class: 'cards' }, shown.map(cachedCard)) : el('p', { class: 'placeholder' }, 'Nothing here'),
      shown.length < cards.length ? el('button', { type: 'button', class: 'show-all', onclick: showAll }, `Show all ${cards.length}`) : null);
  }));
}

function statusSelect(task, key) {
  const current = statusOf(task);
  return el('select', {
    class: 'status-select', 'aria-label': 'Status', dataset: { key },
    onchange: (event) => void changeStatus(task, event.target.value),
  }, STATUSES.map((s) => el('option', { value: s.value, selected: s.value === current }, s.words)));
}

function progress(task) {
  const total = task.subtasks?.length ?? 0;
  if (!total) return null;
  const done = task.subtasks.filter((s) => s.completed).length;
  const fill = el('span', { class: 'fill' });
  fill.style.width = `${Math.round((done / total) * 100)}%`; // through CSSOM: the CSP refuses style attributes
  return el('span', { class: 'progress', title: `${done} of ${total} subtasks done` }, el('span', { class: 'bar' }, fill), `${done}/${total}`);
}

/** A task object is replaced, never changed, on every update: its card can be reused until it or a session changes. */
const cardNodes = new WeakMap();
function cachedCard(task) {
  const hit = cardNodes.get(task);
  if (hit?.sessionsVersion === state.sessionsVersion) return hit.node;
  const node = card(task);
  cardNodes.set(task, { sessionsVersion: state.sessionsVersion, node });
  return node;
}

function card(task) {
  const linked = task.sessionIds ?? [];
  return el('article', { class: 'card', dataset: { id: task.id } },
    el('div', { class: 'card-top' },
      el('span', { class: `priority priority-${task.priority}` }, task.priority),
      task.sessionStatus ? el('span', { class: `agent agent-${task.sessionStatus}`, title: 'What the agent last reported' }, words(task.sessionStatus)) : null,
      progress(task)),
    el('h3', { class: 'card-title' },
      el('button', { type: 'button', dataset: { key: `open:${task.id}` }, onclick: () => openDetails(task.id) }, task.title)),
    task.claimedBy ? el('p', { class: 'claim' }, 'Claimed by ', el('strong', {}, sessionName(task.claimedBy))) : null,
    linked.length ? el('ul', { class: 'linked', 'aria-label': 'Linked sessions' }, linked.map((id) => sessionChip(id))) : null,
    el('div', { class: 'card-foot' }, statusSelect(task, `status:${task.id}`)));
}

function sessionChip(id) {
  const status = state.sessions.get(id)?.status ?? 'unknown';
  return el('li', { class: `chip session-${status}`, title: words(status) }, sessionName(id));
}

function sessionOrder(a, b) {
  return (SESSION_RANK[a.status] ?? 9) - (SESSION_RANK[b.status] ?? 9) || (b.lastActivity ?? 0) - (a.lastActivity ?? 0);
}

function renderSessions() {
  const sessions = [...state.sessions.values()].sort(sessionOrder);
  $('session-list').replaceChildren(...(sessions.length
    ? sessions.map((s) => el('li', { class: `session session-${s.status}` },
      el('span', { class: 'session-name' }, s.name || s.id),
      el('span', { class: 'session-status' }, words(s.status)),
      el('span', { class: 'session-meta' },
        `${s.taskIds?.length ?? 0} task${s.taskIds?.length === 1 ? '' : 's'} · ${ago(s.lastActivity ?? s.startedAt ?? Date.now())}`)))
    : [el('li', { class: 'placeholder' }, 'No sessions')]));
}

// ---- Details --------------------------------------------------------------

function openDetails(taskId) {
  state.openTaskId = taskId;
  renderDetails();
  const dialog = $('details');
  if (!dialog.open) dialog.showModal();
}

function closeDetails() {
  state.openTaskId = null;
  if ($('details').open) $('details').close();
}

$('details-close').addEventListener('click', closeDetails);
$('details').addEventListener('close', () => { state.openTaskId = null; });

function renderDetails() {
  if (!state.openTaskId) return;
  const task = state.tasks.get(state.openTaskId);
  if (!task) return closeDetails();
  $('details-title').textContent = task.title;
  const timeline = [...(task.timeline ?? [])].reverse();
  const subtasks = [...(task.subtasks ?? [])].sort((a, b) => a.order - b.order);
  $('details-body').replaceChildren(
    el('div', { class: 'details-meta' },
      el('span', { class: `status-chip status-${statusOf(task)}` }, STATUS_WORDS[statusOf(task)] ?? words(task.status)),
      el('span', { class: `priority priority-${task.priority}` }, task.priority),
      task.claimedBy ? el('span', { class: 'claim' }, 'Claimed by ', el('strong', {}, sessionName(task.claimedBy))) : null,
      statusSelect(task, `details-status:${task.id}`)),
    task.description ? el('p', { class: 'description' }, task.description) : el('p', { class: 'muted' }, 'No description.'),
    subtasks.length ? el('section', { class: 'details-block', 'aria-label': 'Subtasks' },
      el('h3', {}, `Subtasks ${progress(task)?.textContent ?? ''}`),
      el('ul', { class: 'checklist' }, subtasks.map((s) => el('li', { class: s.completed ? 'done' : '' }, s.completed ? '✓ ' : '○ ', s.title)))) : null,
    (task.sessionIds ?? []).length ? el('section', { class: 'details-block', 'aria-label': 'Linked sessions' },
      el('h3', {}, 'Linked sessions'), el('ul', { class: 'linked' }, task.sessionIds.map((id) => sessionChip(id)))) : null,
    el('section', { class: 'details-block', 'aria-label': 'Timeline' },
      el('h3', {}, 'Timeline'),
      el('ol', { class: 'timeline' }, timeline.map((e) => el('li', {},
        el('span', { class: 'event-type' }, words(e.type)),
        el('span', { class: 'event-message' }, e.message ?? ''),
        el('time', { dateTime: new Date(e.timestamp).toISOString(), title: new Date(e.timestamp).toLocaleString() }, ago(e.timestamp)))))));
}

void start();
