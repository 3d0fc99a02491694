'use strict';
// Thunderhead's web page: sign in, see and end your sessions, and (for staff) anyone's.
// Plain DOM, no build step. Every text from the server goes through textContent, never HTML.

const PAGE = 50;
const app = document.getElementById('app');
const who = document.getElementById('who');
const notice = document.getElementById('notice');

// ---- token storage: sessionStorage, or localStorage with "remember me"; never in a URL ----
const store = {
  get: () => sessionStorage.getItem('token') || localStorage.getItem('token'),
  set(token, remember) {
    this.clear();
    (remember ? localStorage : sessionStorage).setItem('token', token);
  },
  clear() { sessionStorage.removeItem('token'); localStorage.removeItem('token'); },
};

// ---- small DOM helper ----
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'text') el.textContent = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child != null) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function show(...nodes) {
  app.replaceChildren(...nodes);
}

function say(message, kind) {
  notice.textContent = message || '';
  notice.hidden = !message;
  notice.className = kind === 'ok' ? 'ok' : '';
}

const when = (seconds) => new Date(seconds * 1000).toLocaleString();

/** A session unused for this long is marked idle. */
const IDLE_DAYS = 30;
const DAY_MS = 24 * 60 * 60 * 1000;

/** "3 minutes ago", for a time in milliseconds. */
function ago(ms) {
  const seconds = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (seconds < 45) return 'just now';
  const units = [['minute', 60], ['hour', 60], ['day', 24], ['month', 30], ['year', 12]];
  let amount = seconds;
  let name = 'second';
  for (const [unit, size] of units) {
    if (amount / size < 1) break;
    amount /= size;
    name = unit;
    if (unit === 'day' && amount < 30) break;
  }
  amount = Math.max(1, Math.round(amount));
  return `${amount} ${name}${amount === 1 ? '' : 's'} ago`;
}

/** A relative time whose exact time shows on hover (title) and on focus (CSS). */
function timeAgo(iso) {
  const ms = Date.parse(iso);
  const exact = new Date(ms).toLocaleString();
  return h('time', { datetime: iso, title: exact, 'data-exact': exact, tabindex: '0', text: ago(ms) });
}

/** When a session was last used, or opened if never used since. */
const lastUse = (s) => Date.parse(s.usedAt || s.createdAt);

// ---- the API ----
class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
    this.fields = (body && body.fields) || [];
    this.retryAfter = retryAfter;
  }
}

async function api(method, path, body) {
  const headers = {};
  const token = store.get();
  if (token) headers.Authorization = token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch('/api' + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => null);
  if (response.ok) return data;
  const error = new ApiError(response.status, data, Number(response.headers.get('Retry-After')) || null);
  // Our own session is gone (ended elsewhere, or expired), or the account was banned: back to
  // sign-in, with the reason.
  if (token) {
    if (response.status === 401 && error.code === 'INVALID_SESSION_ERROR') {
      store.clear();
      signIn('Your session has ended: it was signed out from another device, or it expired. Please sign in again.');
    } else if (response.status === 403 && error.code === 'BANNED_ERROR') {
      store.clear();
      signIn(explain(error));
      error.status = 401; // handled: callers treat it like a lost session
    }
  }
  throw error;
}

/** Words a person understands for an API error. */
function explain(error) {
  switch (error.code) {
    case 'INVALID_PASSWORD_ERROR': return error.status === 400 ? 'The two passwords do not match.' : 'That password is not right.';
    case 'INVALID_USER_ERROR': return 'There is no account with that name.';
    case 'BANNED_ERROR': return 'This account has been banned. Contact the staff if you think this is a mistake.';
    case 'RATELIMITED_ERROR': {
      const wait = error.retryAfter ? ` Try again in ${error.retryAfter} second${error.retryAfter === 1 ? '' : 's'}.` : ' Try again later.';
      return 'Too many attempts.' + wait;
    }
    case 'USER_EXISTS_ERROR': return 'That username or email is already taken.';
    case 'MISSING_FIELDS_ERROR': return 'Please check the highlighted fields.';
    case 'INSUFFICIENT_PERMISSIONS_ERROR': return 'Only staff can do that.';
    case 'INVALID_SESSION_ERROR': return 'That session no longer exists.';
    default: return 'Something went wrong on the server. Please try again.';
  }
}

/** A form field with its label and a place for its error. */
function field(name, label, type = 'text', extra = {}) {
  const input = h('input', { name, id: `f-${name}`, type, 'aria-describedby': `e-${name}`, ...extra });
  const error = h('p', { class: 'error', id: `e-${name}`, 'aria-live': 'polite' });
  return { input, error, node: h('label', { for: `f-${name}` }, label, input, error) };
}

/** Shows an API error next to the fields it names, or next to the form. */
function showFormError(error, fields, formError, fieldFor = {}) {
  for (const f of Object.values(fields)) f.error.textContent = '';
  formError.textContent = '';
  const named = error.code === 'MISSING_FIELDS_ERROR' ? error.fields : (fieldFor[error.code] ? [fieldFor[error.code]] : []);
  let placed = false;
  for (const name of named) {
    if (fields[name]) {
      fields[name].error.textContent = error.code === 'MISSING_FIELDS_ERROR' ? 'Please fill this in correctly.' : explain(error);
      placed = true;
    }
  }
  if (!placed || error.code === 'MISSING_FIELDS_ERROR') formError.textContent = explain(error);
  const first = named.map((n) => fields[n]).find(Boolean);
  if (first) first.input.focus();
}

/**
 * After signing in, go back where the person came from: the server names the place in the page
 * only when it is one of the hosts it was told to trust (`--return-hosts`), so this never
 * follows a link to anywhere else.
 */
function returnTo() {
  const back = document.querySelector('meta[name="thunderhead-return"]');
  if (!back || !back.content) return false;
  location.assign(back.content);
  return true;
}

// ---- signed out ----
function signIn(message) {
  who.replaceChildren();
  say(message);
  const fields = {
    username: field('username', 'Username', 'text', { autocomplete: 'username', required: true }),
    password: field('password', 'Password', 'password', { autocomplete: 'current-password', required: true }),
  };
  const remember = h('input', { type: 'checkbox', name: 'remember', id: 'f-remember' });
  const formError = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'stack', id: 'signin', onsubmit: async (event) => {
    event.preventDefault();
    try {
      const auth = await api('POST', '/user/session', {
        username: fields.username.input.value, password: fields.password.input.value, rememberMe: remember.checked,
      });
      store.set(auth.token, remember.checked);
      if (returnTo()) return;
      say('');
      await home();
    } catch (error) {
      showFormError(error, fields, formError, { INVALID_PASSWORD_ERROR: 'password', INVALID_USER_ERROR: 'username' });
    }
  } },
  fields.username.node, fields.password.node,
  h('label', { class: 'check', for: 'f-remember' }, remember, 'Remember me on this device'),
  formError,
  h('div', { class: 'actions' },
    h('button', { class: 'primary', type: 'submit', text: 'Sign in' }),
    h('button', { type: 'button', class: 'link', text: 'Create an account', onclick: () => signUp() })));
  show(h('section', { class: 'card' }, h('h2', { text: 'Sign in' }), form));
  fields.username.input.focus();
}

function signUp() {
  say('');
  const fields = {
    username: field('username', 'Username (letters, digits, _ . -)', 'text', { autocomplete: 'username', required: true }),
    email: field('email', 'Email', 'email', { autocomplete: 'email', required: true }),
    password: field('password', 'Password', 'password', { autocomplete: 'new-password', required: true }),
    repeatPassword: field('repeatPassword', 'Repeat the password', 'password', { autocomplete: 'new-password', required: true }),
  };
  const remember = h('input', { type: 'checkbox', id: 'f-remember' });
  const formError = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'stack', id: 'signup', onsubmit: async (event) => {
    event.preventDefault();
    try {
      const auth = await api('POST', '/user', {
        username: fields.username.input.value, email: fields.email.input.value,
        password: fields.password.input.value, repeatPassword: fields.repeatPassword.input.value,
        rememberMe: remember.checked,
      });
      store.set(auth.token, remember.checked);
      if (returnTo()) return;
      await home();
    } catch (error) {
      showFormError(error, fields, formError, { USER_EXISTS_ERROR: 'username', INVALID_PASSWORD_ERROR: 'repeatPassword' });
    }
  } },
  Object.values(fields).map((f) => f.node),
  h('label', { class: 'check', for: 'f-remember' }, remember, 'Remember me on this device'),
  formError,
  h('div', { class: 'actions' },
    h('button', { class: 'primary', type: 'submit', text: 'Create account' }),
    h('button', { type: 'button', class: 'link', text: 'I already have an account', onclick: () => signIn() })));
  show(h('section', { class: 'card' }, h('h2', { text: 'Create an account' }), form));
  fields.username.input.focus();
}

// ---- signed in ----
let me = null;
let current = null;
let lastTab = 'sessions';

async function home(tab = lastTab) {
  lastTab = tab;
  try {
    [me, current] = await Promise.all([api('GET', '/user'), api('GET', '/user/session')]);
  } catch (error) {
    if (error.status !== 401) say(explain(error));
    return;
  }
  who.replaceChildren(
    h('span', { text: `Signed in as ${me.username}` }),
    h('button', { type: 'button', id: 'signout', text: 'Sign out', onclick: signOut }));
  const tabs = h('nav', { class: 'tabs', 'aria-label': 'Views' },
    h('button', { type: 'button', 'aria-pressed': String(tab === 'sessions'), text: 'Your sessions', onclick: () => home('sessions') }),
    me.staff ? h('button', { type: 'button', 'aria-pressed': String(tab === 'staff'), text: 'Staff', onclick: () => home('staff') }) : null);
  const body = h('div');
  show(tabs, body);
  if (tab === 'staff' && me.staff) await staffView(body);
  else await sessionsView(body, { own: true, offset: 0 });
}

async function signOut() {
  try {
    await api('DELETE', `/user/session/${current.iat}`);
  } catch (error) {
    if (error.status === 401) return;
  }
  store.clear();
  signIn('You are signed out.');
}

/**
 * Do `work` (which returns what to say), then `redraw`, and only then say how it went: the notice
 * must never describe a view that has not caught up yet. `redraw` answers false when it could not
 * draw (the page went back to sign-in), and then nothing is said over the sign-in notice.
 */
async function act(work, redraw) {
  let message;
  let kind;
  try {
    message = await work();
    kind = 'ok';
  } catch (error) {
    if (error.status === 401) return; // api() has already gone back to sign-in
    message = explain(error);
  }
  if (await redraw()) say(message, kind);
}

/**
 * A table of sessions with paging and ending one, several or all. `own` lists the caller's
 * sessions; otherwise `user` is the account staff are looking at.
 */
async function sessionsView(container, { own, user, offset }) {
  const base = own ? '/user' : `/user/${user.id}`;
  let list;
  try {
    list = await api('GET', `${base}/sessions?limit=${PAGE}&offset=${offset}`);
  } catch (error) {
    if (error.status !== 401) say(explain(error));
    return false;
  }
  if (list.items.length === 0 && offset > 0) return sessionsView(container, { own, user, offset: Math.max(0, offset - PAGE) });
  const refresh = (at = offset) => sessionsView(container, { own, user, offset: at });
  const selected = new Set();
  const endSelected = h('button', { type: 'button', class: 'danger', id: 'end-selected', disabled: true, text: 'End selected' });
  // This device first, then the most recently used.
  const items = [...list.items].sort((a, b) => {
    if (own && a.iat === current.iat) return -1;
    if (own && b.iat === current.iat) return 1;
    return lastUse(b) - lastUse(a);
  });
  const rows = items.map((s) => {
    const isCurrent = own && s.iat === current.iat;
    const box = h('input', { type: 'checkbox', 'aria-label': `Select ${s.name}`, disabled: isCurrent, onchange: (e) => {
      if (e.target.checked) selected.add(String(s.iat)); else selected.delete(String(s.iat));
      endSelected.disabled = selected.size === 0;
    } });
    const end = h('button', { type: 'button', class: 'danger', text: isCurrent ? 'Sign out' : 'End', onclick: async () => {
      if (isCurrent) return signOut();
      if (!confirm(`End the session "${s.name}"? That device will be signed out.`)) return;
      await act(async () => {
        await api('DELETE', `${base}/session/${s.iat}`);
        return `Ended "${s.name}".`;
      }, refresh);
    } });
    const idle = Date.now() - lastUse(s) > IDLE_DAYS * DAY_MS;
    const place = s.lastIp || s.ip;
    return h('tr', { 'data-iat': s.iat, class: idle ? 'idle' : null },
      h('td', {}, box),
      h('td', { 'data-label': 'Device', class: 'device' }, s.name,
        isCurrent ? h('span', { class: 'tag', text: 'This device' }) : null,
        idle ? h('span', { class: 'tag idle', title: `Not used for more than ${IDLE_DAYS} days`, text: 'idle' }) : null,
        s.userAgent && s.userAgent !== s.name ? h('div', { class: 'muted small ua', text: s.userAgent }) : null),
      h('td', { 'data-label': 'Last active', class: 'last-active' }, s.usedAt ? timeAgo(s.usedAt) : h('span', {}, 'not since sign-in')),
      h('td', { 'data-label': 'From', class: 'place' }, place || 'unknown',
        s.ip && s.lastIp && s.ip !== s.lastIp ? h('div', { class: 'muted small', text: `signed in from ${s.ip}` }) : null),
      h('td', { 'data-label': 'Signed in' }, timeAgo(s.createdAt)),
      h('td', { 'data-label': 'Expires' }, when(s.exp)),
      h('td', {}, end));
  });
  endSelected.addEventListener('click', async () => {
    if (!confirm(`End ${selected.size} session${selected.size === 1 ? '' : 's'}? Those devices will be signed out.`)) return;
    await act(async () => {
      const result = await api('DELETE', `${base}/sessions`, { sessions: [...selected] });
      return `Ended ${result.count} session${result.count === 1 ? '' : 's'}.`;
    }, refresh);
  });
  const endAll = own
    ? h('button', { type: 'button', class: 'danger', id: 'end-others', text: 'Sign out everywhere else', onclick: async () => {
      if (!confirm('Sign out every other device? Only this one stays signed in.')) return;
      await act(async () => {
        const result = await api('DELETE', '/user/sessions/all?allButSelf=true');
        return `Signed out ${result.count} other session${result.count === 1 ? '' : 's'}.`;
      }, () => refresh(0));
    } })
    : h('button', { type: 'button', class: 'danger', id: 'end-all', text: 'End all sessions', onclick: async () => {
      if (!confirm(`End all of ${user.username}'s sessions? Every device of theirs will be signed out.`)) return;
      await act(async () => {
        const result = await api('DELETE', `${base}/sessions/all`);
        return `Ended ${result.count} session${result.count === 1 ? '' : 's'} of ${user.username}.`;
      }, () => refresh(0));
    } });
  const last = Math.min(offset + list.items.length, list.count);
  const pager = list.count > PAGE
    ? h('div', { class: 'pager' },
      h('button', { type: 'button', text: 'Previous', disabled: offset === 0, onclick: () => refresh(Math.max(0, offset - PAGE)) }),
      h('span', { class: 'muted', text: `${offset + 1}–${last} of ${list.count}` }),
      h('button', { type: 'button', text: 'Next', disabled: last >= list.count, onclick: () => refresh(offset + PAGE) }))
    : null;
  container.replaceChildren(h('section', { class: 'card', id: own ? 'own-sessions' : 'user-sessions' },
    h('h2', { text: own ? `Your sessions (${list.count})` : `${user.username}'s sessions (${list.count})` }),
    h('div', { class: 'actions' }, endSelected, endAll, h('button', { type: 'button', text: 'Refresh', onclick: () => refresh() })),
    list.items.length === 0 ? h('p', { class: 'muted', text: 'No sessions.' }) : h('table', {},
      h('thead', {}, h('tr', {}, h('th', { text: '' }), h('th', { text: 'Device' }), h('th', { text: 'Last active' }), h('th', { text: 'From' }), h('th', { text: 'Signed in' }), h('th', { text: 'Expires' }), h('th', { text: '' }))),
      h('tbody', {}, rows)),
    pager));
  return true;
}

// ---- staff ----
/** How long typing must pause before the search asks the server. */
const SEARCH_DELAY_MS = 250;

/**
 * Find users as you type (by any part of a name or email; the server searches), or open one by
 * ID (digits, then Enter). Below, every user or the matches, newest first, a page at a time.
 */
async function staffView(container) {
  const search = field('userid', 'Part of a name or email, or an ID', 'search',
    { autocomplete: 'off', spellcheck: 'false', 'aria-controls': 'all-users' });
  const formError = h('p', { class: 'error', role: 'alert' });
  const detail = h('div', { id: 'user-detail' });
  const results = h('div');
  let timer = null;
  let asked = 0;
  const lookup = async (offset = 0) => {
    const text = search.input.value.trim();
    // Answers can arrive out of order; only the last question's is drawn.
    const question = ++asked;
    const path = text
      ? `/users?search=${encodeURIComponent(text.slice(0, 100))}&limit=${PAGE}&offset=${offset}`
      : `/users?limit=${PAGE}&offset=${offset}`;
    let users;
    try {
      users = await api('GET', path);
    } catch (error) {
      if (error.status !== 401 && question === asked) say(explain(error));
      return;
    }
    if (question !== asked) return;
    drawUsers(results, users, { text, offset, page: lookup, open: (id) => openUser(detail, id, formError) });
  };
  search.input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => lookup(0), SEARCH_DELAY_MS);
  });
  const find = h('form', { class: 'stack', id: 'find-user', role: 'search', onsubmit: async (event) => {
    event.preventDefault();
    clearTimeout(timer);
    const text = search.input.value.trim();
    if (/^[0-9]+$/.test(text)) await openUser(detail, text, formError);
    else await lookup(0);
  } }, search.node, formError, h('div', { class: 'actions' }, h('button', { class: 'primary', type: 'submit', text: 'Find' })));
  container.replaceChildren(h('section', { class: 'card' }, h('h2', { text: 'Find a user' }), find), detail, results);
  await lookup(0);
}

function drawUsers(results, users, { text, offset, page, open }) {
  const rows = users.items.map((u) => h('tr', {},
    h('td', { 'data-label': 'ID' }, u.id),
    h('td', { 'data-label': 'Username' }, u.username, u.staff ? h('span', { class: 'tag', text: 'staff' }) : null,
      u.bannedAt ? h('span', { class: 'tag banned', text: 'banned' }) : null),
    h('td', { 'data-label': 'Email' }, u.email),
    h('td', {}, h('button', { type: 'button', text: 'Open', 'aria-label': `Open ${u.username}`, onclick: () => open(u.id) }))));
  const last = Math.min(offset + users.items.length, users.count);
  const title = text ? `Users matching "${text}" (${users.count})` : `All users (${users.count})`;
  results.replaceChildren(h('section', { class: 'card', id: 'all-users', 'aria-live': 'polite' }, h('h2', { text: title }),
    users.items.length === 0 ? h('p', { class: 'muted', text: 'No user matches.' }) : h('table', {},
      h('thead', {}, h('tr', {}, h('th', { text: 'ID' }), h('th', { text: 'Username' }), h('th', { text: 'Email' }), h('th', { text: '' }))),
      h('tbody', {}, rows)),
    users.count > PAGE ? h('div', { class: 'pager' },
      h('button', { type: 'button', text: 'Previous', disabled: offset === 0, onclick: () => page(Math.max(0, offset - PAGE)) }),
      h('span', { class: 'muted', text: `${offset + 1}–${last} of ${users.count}` }),
      h('button', { type: 'button', text: 'Next', disabled: last >= users.count, onclick: () => page(offset + PAGE) })) : null));
}

async function openUser(detail, id, formError) {
  formError.textContent = '';
  if (!/^[0-9]+$/.test(String(id))) {
    formError.textContent = 'A user ID is made of digits only.';
    return false;
  }
  let user;
  try {
    user = await api('GET', `/user/${id}`);
  } catch (error) {
    if (error.status !== 401) formError.textContent = explain(error);
    return false;
  }
  const sessions = h('div');
  const ban = h('button', { type: 'button', class: 'danger', id: 'toggle-ban', text: user.bannedAt ? 'Unban' : 'Ban', onclick: async () => {
    const verb = user.bannedAt ? 'Unban' : 'Ban';
    if (!confirm(`${verb} ${user.username}?${user.bannedAt ? '' : ' They will be shut out at once, on every device.'}`)) return;
    await act(async () => {
      await api('PATCH', `/user/${user.id}/ban`, {});
      return `${user.username} is ${user.bannedAt ? 'no longer banned' : 'banned'}.`;
    }, () => openUser(detail, user.id, formError));
  } });
  detail.replaceChildren(h('section', { class: 'card', id: 'user-card' },
    h('h2', {}, `${user.username} (ID ${user.id})`, user.bannedAt ? h('span', { class: 'tag banned', text: 'banned' }) : null),
    h('p', { class: 'muted', text: `${user.email} · joined ${new Date(user.createdAt).toLocaleString()}` }),
    h('div', { class: 'actions' }, ban)), sessions);
  await sessionsView(sessions, { own: false, user, offset: 0 });
  detail.querySelector('h2').setAttribute('tabindex', '-1');
  detail.querySelector('h2').focus();
  return true;
}

// What the page shows stays true: look again whenever it comes back into view.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && store.get() && me) home();
});

if (store.get()) home(); else signIn();
