'use strict';
// Pollux status page. Everything here talks to the same origin only: the
// admin API (/admin/v1/...) and the ingestion endpoints. The key lives in
// sessionStorage and goes out in the Authorization header (and in the
// OAuth links, see showOAuthLinks); it is never rendered or logged. No
// response field holds a token, and everything from the server is put into
// the page with textContent, never as HTML.
(() => {
  const KEY_STORE = 'pollux.statuspage.key';
  const REFRESH_MS = 5000;
  const LOADING = 'Loading…';
  const JOB_POLL_MS = 2000;
  const JOB_POLL_MAX = 300;

  // Credential states, as the admin API names them, and how they read.
  const STATUSES = {
    active: 'active',
    cooling: 'cooling',
    needs_reauth: 'needs re-auth',
    ineligible: 'ineligible',
    banned: 'banned',
    disabled: 'disabled',
  };
  const PROVIDERS = {
    geminicli: { label: 'Gemini CLI', account: 'Project', tier: 'Tier' },
    codex: { label: 'Codex (ChatGPT)', account: 'Account', tier: 'Plan' },
  };
  const GOOD_VERDICTS = new Set(['added', 'updated']);
  const MEH_VERDICTS = new Set(['duplicate', 'unchanged']);

  const $ = (id) => document.getElementById(id);
  const ui = {
    meta: $('meta'), topActions: $('top-actions'), reload: $('reload'), forget: $('forget'),
    problem: $('problem'), say: $('say'),
    login: $('login'), keyForm: $('key-form'), key: $('key'),
    dash: $('dash'), providers: $('providers'),
    addForm: $('add-form'), addProvider: $('add-provider'), addTokens: $('add-tokens'), addSubmit: $('add-submit'),
    verdicts: $('verdicts'), addSay: $('add-say'),
    oauth: { geminicli: $('oauth-geminicli'), codex: $('oauth-codex') },
    device: $('oauth-codex-device'),
    confirm: $('confirm'), confirmText: $('confirm-text'), confirmOK: $('confirm-ok'), confirmCancel: $('confirm-cancel'),
  };

  const state = {
    key: readKey(),
    credentials: [],
    pool: [],
    usage: new Map(), // provider + '/' + model → GET /admin/v1/pool/usage's model
    fetchedAt: 0,
    skew: 0, // server clock minus ours, when they differ noticeably
    loading: false,
    again: false, // a load was asked for while one ran
    timer: 0,
    ticker: 0,
    pending: new Set(), // focus keys of buttons whose request is under way
  };

  class APIError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  // --- key --------------------------------------------------------------

  function readKey() {
    try {
      return sessionStorage.getItem(KEY_STORE) || '';
    } catch {
      return '';
    }
  }

  function storeKey(key) {
    try {
      if (key) sessionStorage.setItem(KEY_STORE, key);
      else sessionStorage.removeItem(KEY_STORE);
    } catch {
      // Storage refused (private mode): the key lives in memory only.
    }
    state.key = key;
  }

  // The OAuth start pages take the key as ?key=: a new tab cannot send an
  // Authorization header. Putting it in these two links is acceptable: this
  // is the operator's own browser, the links are same-origin, they carry
  // rel=noreferrer, and the flow pages answer with Referrer-Policy:
  // no-referrer and Cache-Control: no-store.
  function showOAuthLinks(key) {
    for (const [provider, a] of Object.entries(ui.oauth)) {
      const q = new URLSearchParams({ format: 'html' });
      if (key) q.set('key', key);
      a.href = '/' + provider + '/auth?' + q.toString();
    }
    ui.device.href = '/codex/auth/device' + (key ? '?' + new URLSearchParams({ key }).toString() : '');
  }

  // --- HTTP -------------------------------------------------------------

  async function api(method, path, body) {
    const init = {
      method,
      headers: { Authorization: 'Bearer ' + state.key, Accept: 'application/json' },
      cache: 'no-store',
      credentials: 'omit',
      redirect: 'error',
    };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = body;
    }
    let resp, text;
    try {
      resp = await fetch(path, init);
      text = await resp.text();
    } catch {
      throw new APIError(0, 'cannot reach Pollux');
    }
    noteServerClock(resp);
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!resp.ok) {
      const msg = (data && data.error && typeof data.error.message === 'string' && data.error.message) ||
        'HTTP ' + resp.status;
      throw new APIError(resp.status, msg);
    }
    return { status: resp.status, data };
  }

  function noteServerClock(resp) {
    const d = Date.parse(resp.headers.get('Date') || '');
    if (Number.isNaN(d)) return;
    const skew = d - Date.now();
    // The Date header has whole seconds: ignore differences that small.
    state.skew = Math.abs(skew) > 2000 ? skew : 0;
  }

  function now() {
    return Date.now() + state.skew;
  }

  // --- loading and polling ----------------------------------------------

  async function load() {
    if (!state.key) return;
    if (state.loading) {
      state.again = true;
      return;
    }
    state.loading = true;
    clearTimeout(state.timer);
    const key = state.key;
    try {
      const [creds, pool, usage] = await Promise.all([
        api('GET', '/admin/v1/credentials'),
        api('GET', '/admin/v1/pool'),
        // Quota usage is extra: the page works without it.
        api('GET', '/admin/v1/pool/usage').catch(() => null),
      ]);
      // The key was forgotten or replaced meanwhile: drop the answer.
      if (state.key !== key) return;
      state.credentials = (creds.data && creds.data.credentials) || [];
      state.pool = (pool.data && pool.data.providers) || [];
      state.usage = new Map();
      for (const p of (usage && usage.data && usage.data.providers) || []) {
        for (const m of p.models || []) state.usage.set(p.provider + '/' + m.model, m);
      }
      state.fetchedAt = Date.now();
      setProblem('');
      ui.dash.classList.remove('stale');
      render();
    } catch (err) {
      if (state.key === key) failed(err, 'Loading the status');
    } finally {
      state.loading = false;
      // The first answer, good or bad, ends the "Loading…" said for it.
      if (ui.say.textContent === LOADING) say('');
      schedule();
    }
    if (state.again && state.key) {
      // Something changed while the last answer was on its way.
      state.again = false;
      await load();
    }
  }

  function schedule() {
    clearTimeout(state.timer);
    if (state.key && !document.hidden) state.timer = setTimeout(load, REFRESH_MS);
  }

  function startTicker() {
    clearInterval(state.ticker);
    state.ticker = setInterval(tick, 1000);
  }

  function stopPolling() {
    clearTimeout(state.timer);
    clearInterval(state.ticker);
  }

  document.addEventListener('visibilitychange', () => {
    if (!state.key) return;
    if (document.hidden) {
      stopPolling();
    } else {
      startTicker();
      load();
    }
  });

  // failed shows what went wrong. A 401 means the key is wrong (or was
  // changed): drop it and ask again. Anything else keeps the last data on
  // screen, marked stale, while polling goes on.
  function failed(err, what) {
    if (err instanceof APIError && err.status === 401) {
      logout('Pollux refused the key (401 Unauthorized). Enter it again: the admin key when the server has one ([basic] admin_key), else the Pollux key.');
      return;
    }
    if (err instanceof APIError && err.status === 0) {
      ui.dash.classList.add('stale');
      const when = state.fetchedAt ? ' Showing data from ' + new Date(state.fetchedAt).toLocaleTimeString() + '.' : '';
      setProblem('Network error: cannot reach Pollux. Retrying every ' + REFRESH_MS / 1000 + ' s.' + when);
      return;
    }
    setProblem(what + ' failed: ' + describe(err));
  }

  function setProblem(text) {
    ui.problem.textContent = text;
    ui.problem.hidden = !text;
  }

  function say(text) {
    ui.say.textContent = text;
  }

  function addSay(text) {
    ui.addSay.textContent = text;
  }

  // --- screens ----------------------------------------------------------

  function showLogin(message) {
    stopPolling();
    ui.dash.hidden = true;
    ui.topActions.hidden = true;
    ui.meta.hidden = true;
    ui.login.hidden = false;
    setProblem(message || '');
    ui.key.value = '';
    ui.key.focus();
  }

  function showDashboard() {
    ui.login.hidden = true;
    ui.dash.hidden = false;
    ui.topActions.hidden = false;
    ui.meta.hidden = false;
    showOAuthLinks(state.key);
    startTicker();
    load();
  }

  function logout(message) {
    storeKey('');
    showOAuthLinks('');
    state.credentials = [];
    state.pool = [];
    state.usage = new Map();
    state.fetchedAt = 0;
    state.pending.clear();
    ui.providers.replaceChildren(el('p', { class: 'hint' }, LOADING));
    ui.verdicts.replaceChildren();
    ui.addTokens.value = '';
    addSay('');
    showLogin(message);
  }

  ui.keyForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const key = ui.key.value.trim();
    ui.key.value = '';
    if (!key) {
      setProblem('Enter the key first.');
      ui.key.focus();
      return;
    }
    storeKey(key);
    setProblem('');
    say(LOADING);
    showDashboard();
  });

  ui.forget.addEventListener('click', () => {
    logout('');
    say('Key forgotten. It is no longer stored in this tab.');
  });

  ui.reload.addEventListener('click', () => {
    say('Refreshing…');
    load().then(() => say(''));
  });

  // --- rendering --------------------------------------------------------

  // el builds an element; text children become text nodes, never HTML.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'data') for (const [dk, dv] of Object.entries(v)) e.dataset[dk] = dv;
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  // td is a table cell labelled for the card layout of narrow screens; its
  // content sits in one box so the label and the content form two columns.
  function td(label, attrs, ...kids) {
    return el('td', Object.assign({ 'data-label': label }, attrs), el('div', { class: 'cell' }, kids));
  }

  // time parses an RFC 3339 value; Go's zero time and absent values are 0.
  function time(v) {
    if (!v) return 0;
    const t = Date.parse(v);
    return Number.isNaN(t) || t < 86400000 ? 0 : t;
  }

  function fmtDuration(ms) {
    let s = Math.max(0, Math.ceil(ms / 1000));
    if (s < 60) return s + 's';
    const pad = (n) => String(n).padStart(2, '0');
    if (s < 3600) return Math.floor(s / 60) + 'm ' + pad(s % 60) + 's';
    if (s < 86400) return Math.floor(s / 3600) + 'h ' + pad(Math.floor((s % 3600) / 60)) + 'm';
    s = Math.floor(s / 3600);
    return Math.floor(s / 24) + 'd ' + (s % 24) + 'h';
  }

  function fmtAgo(t) {
    if (!t) return 'never';
    const ms = now() - t;
    if (ms < 5000) return 'just now';
    return fmtDuration(ms) + ' ago';
  }

  function fmtWindow(minutes) {
    if (!minutes) return '';
    if (minutes % 1440 === 0) return minutes / 1440 + 'd window';
    if (minutes % 60 === 0) return minutes / 60 + 'h window';
    return minutes + 'min window';
  }

  // countdown is a span the ticker keeps current.
  function countdown(until, prefix) {
    return el('span', { class: 'countdown', data: { until: String(until), prefix: prefix || '' } },
      (prefix || '') + fmtDuration(until - now()));
  }

  function ago(t) {
    const attrs = { class: 'ago', data: { at: String(t) } };
    if (t) attrs.title = new Date(t).toLocaleString();
    return el('span', attrs, fmtAgo(t));
  }

  function tick() {
    const n = now();
    for (const e of document.querySelectorAll('[data-until]')) {
      e.textContent = e.dataset.prefix + fmtDuration(Number(e.dataset.until) - n);
    }
    for (const e of document.querySelectorAll('[data-at]')) e.textContent = fmtAgo(Number(e.dataset.at));
    if (state.fetchedAt) {
      const s = Math.round((Date.now() - state.fetchedAt) / 1000);
      ui.meta.textContent = 'Updated ' + (s < 2 ? 'just now' : s + 's ago') +
        ' · refreshes every ' + REFRESH_MS / 1000 + ' s while this tab is visible';
    }
  }

  function badge(status) {
    const known = Object.prototype.hasOwnProperty.call(STATUSES, status);
    return el('span', { class: 'badge s-' + (known ? status : 'unknown') }, known ? STATUSES[status] : String(status || 'unknown'));
  }

  function providerLabel(p) {
    return (PROVIDERS[p] && PROVIDERS[p].label) || p;
  }

  function render() {
    const focused = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.focus : undefined;

    const byProvider = new Map();
    for (const p of state.pool) byProvider.set(p.provider, { summary: p, creds: [] });
    for (const c of state.credentials) {
      if (!byProvider.has(c.provider)) byProvider.set(c.provider, { summary: null, creds: [] });
      byProvider.get(c.provider).creds.push(c);
    }
    const sections = [];
    for (const [provider, { summary, creds }] of byProvider) sections.push(renderProvider(provider, summary, creds));
    if (!sections.length) sections.push(el('p', { class: 'empty' }, 'No provider is configured.'));
    ui.providers.replaceChildren(...sections);
    tick();

    if (focused) {
      const again = document.querySelector('[data-focus="' + CSS.escape(focused) + '"]');
      if (again) again.focus();
    }
  }

  function renderProvider(provider, summary, creds) {
    const hid = 'p-' + provider + '-h';
    const head = el('div', { class: 'provider-head' },
      el('h2', { id: hid }, providerLabel(provider)),
      el('span', { class: 'hint' }, creds.length + (creds.length === 1 ? ' credential' : ' credentials') +
        (summary && summary.waiting ? ' · ' + summary.waiting + ' requests waiting' : '')));
    const tally = el('ul', { class: 'tally', 'aria-label': 'Credentials by state' });
    const byStatus = (summary && summary.by_status) || {};
    for (const s of Object.keys(STATUSES)) {
      if (byStatus[s]) tally.append(el('li', {}, el('span', { class: 'badge s-' + s }, byStatus[s] + ' ' + STATUSES[s])));
    }
    const parts = [head, tally];
    if (summary && summary.models && summary.models.length) parts.push(renderModels(provider, summary.models));
    if (summary && ((summary.aliases || []).length || (summary.fallbacks || []).length)) parts.push(renderNames(provider, summary));
    if (creds.length) {
      parts.push(renderCredentials(provider, creds));
    } else {
      parts.push(el('p', { class: 'empty' }, 'No credentials yet. Add some below, or sign in through the browser.'));
    }
    return el('section', { class: 'provider', id: 'provider-' + provider, 'aria-labelledby': hid }, parts);
  }

  function renderModels(provider, models) {
    const wrap = el('div', {});
    wrap.append(el('h3', {}, 'Models'),
      el('p', { class: 'legend', 'aria-hidden': 'true' },
        el('span', { class: 'l-ready' }, 'ready'), el('span', { class: 'l-cooling' }, 'cooling'),
        el('span', { class: 'l-unavailable' }, 'unavailable')));
    const grid = el('div', { class: 'models', id: 'models-' + provider });
    for (const m of models) {
      const ready = m.ready || 0, cooling = m.cooling || 0, unavailable = m.unavailable || 0;
      const total = ready + cooling + unavailable;
      const bar = el('div', { class: 'bar', 'aria-hidden': 'true' });
      for (const [cls, n] of [['ready', ready], ['cooling', cooling], ['unavailable', unavailable]]) {
        if (!n) continue;
        const seg = el('span', { class: 'seg-' + cls });
        seg.style.flexGrow = String(n);
        seg.style.flexBasis = '0';
        bar.append(seg);
      }
      const text = el('span', { class: 'model-text' },
        ready + ' ready · ' + cooling + ' cooling · ' + unavailable + ' unavailable');
      const reset = time(m.earliest_reset);
      if (reset && reset > now()) text.append(' · next reset ', countdown(reset, 'in '));
      if (!total) text.textContent = 'no credentials';
      grid.append(el('span', { class: 'model-name', data: { model: m.model } }, m.model), bar, text);
      const u = state.usage && state.usage.get(provider + '/' + m.model);
      if (u && u.reported) grid.append(...renderQuota(u));
    }
    wrap.append(grid);
    return wrap;
  }

  // renderNames lists the pool's aliases ([providers.<name>.aliases]) and
  // fallback chains ([providers.<name>.fallbacks]).
  function renderNames(provider, summary) {
    const wrap = el('div', { class: 'names', id: 'names-' + provider });
    wrap.append(el('h3', {}, 'Aliases and fallbacks'));
    const list = el('ul', { class: 'name-list' });
    for (const a of summary.aliases || []) {
      list.append(el('li', { data: { alias: a.alias } }, el('code', {}, a.alias), ' \u2192 ', el('code', {}, a.model)));
    }
    for (const f of summary.fallbacks || []) {
      const li = el('li', { data: { chain: f.model } }, el('code', {}, f.model), ' falls back to ');
      (f.fallbacks || []).forEach((m, i) => {
        if (i) li.append(', then ');
        li.append(el('code', {}, m));
      });
      list.append(li);
    }
    wrap.append(list,
      el('p', { class: 'hint' }, 'A fallback serves while every credential for the model is cooling beyond the request\u2019s patience; the answer names the model that served it (X-Pollux-Model).'));
    return wrap;
  }

  // renderQuota is a model's quota bar: what the reporting credentials have
  // left (from the upstream's own quota reports) against their whole quota.
  function renderQuota(u) {
    const left = Math.max(0, u.remaining || 0), spent = Math.max(0, u.reported - left);
    const bar = el('div', { class: 'bar quota', 'aria-hidden': 'true' });
    for (const [cls, n] of [['ready', left], ['unavailable', spent]]) {
      if (!(n > 0)) continue;
      const seg = el('span', { class: 'seg-' + cls });
      seg.style.flexGrow = String(n);
      seg.style.flexBasis = '0';
      bar.append(seg);
    }
    const pct = Math.round(100 * (u.remaining_fraction || 0));
    const text = el('span', { class: 'model-text quota-text' }, pct + '% of quota left (' +
      left.toFixed(1) + ' of ' + u.reported + ' credentials\u2019 quota' +
      (u.reported < u.credentials ? '; ' + (u.credentials - u.reported) + ' not reporting' : '') + ')');
    const reset = time(u.next_reset);
    if (reset && reset > now()) text.append(' · refills ', countdown(reset, 'in '));
    return [el('span', { class: 'model-name quota-name' }, 'quota'), bar, text];
  }

  const COLUMNS = ['ID', 'Account', 'State', 'Cooldowns', 'Last error', 'In flight', 'Served', 'Last used', 'Usage', 'Actions'];

  function renderCredentials(provider, creds) {
    const withUsage = creds.some((c) => c.usage_windows && c.usage_windows.length) || provider === 'codex';
    const cols = COLUMNS.filter((c) => c !== 'Usage' || withUsage);
    const table = el('table', { class: 'cards creds', id: 'creds-' + provider },
      el('caption', {}, providerLabel(provider) + ' credentials'),
      el('thead', {}, el('tr', {}, cols.map((c) => el('th', { scope: 'col' }, c)))));
    const body = el('tbody', {});
    for (const c of creds) body.append(renderCredential(provider, c, withUsage));
    table.append(body);
    return el('div', { class: 'table-wrap' }, table);
  }

  function renderCredential(provider, c, withUsage) {
    const names = PROVIDERS[provider] || { account: 'Account', tier: 'Tier' };
    const who = c.email || 'credential ' + c.id;

    const account = [el('span', { class: 'email' }, c.email || '—')];
    if (c.account) account.push(el('span', { class: 'sub' }, names.account + ' ' + c.account));
    if (c.tier) account.push(el('span', { class: 'sub' }, names.tier + ' ' + c.tier));

    const stateCell = [badge(c.status)];
    if (c.status_reason) stateCell.push(el('span', { class: 'sub' }, c.status_reason));
    const since = time(c.status_since);
    if (since) stateCell.push(el('span', { class: 'sub' }, 'since ', ago(since)));
    if (c.refreshing) {
      stateCell.push(el('span', { class: 'sub' }, 'refreshing token…'));
    } else {
      const exp = time(c.token_expiry);
      if (exp && exp <= now()) stateCell.push(el('span', { class: 'sub' }, 'token expired'));
    }

    const cds = (c.cooldowns || [])
      .map((cd) => ({ model: cd.model, until: time(cd.until), reason: cd.reason }))
      .filter((cd) => cd.until > now())
      .sort((a, b) => a.until - b.until);
    const cdCell = cds.length ? el('ul', { class: 'plain cooldowns' }, cds.map((cd) => el('li', { title: cd.reason || undefined },
      (cd.model === '*' ? 'all models' : cd.model) + ' · ', countdown(cd.until)))) : el('span', { class: 'hint' }, '—');

    const usedAt = time(c.last_used);
    const cells = [
      td('ID', { class: 'num' }, String(c.id)),
      td('Account', {}, account),
      td('State', { class: 'state' }, stateCell),
      td('Cooldowns', {}, cdCell),
      td('Last error', { class: c.last_error ? 'err' : 'hint' }, c.last_error || '—'),
      td('In flight', { class: 'num' }, String(c.in_flight || 0)),
      td('Served', { class: 'num' }, Number(c.served || 0).toLocaleString()),
      td('Last used', {}, usedAt ? ago(usedAt) : 'never'),
    ];
    if (withUsage) cells.push(td('Usage', {}, renderWindows(c.usage_windows)));
    cells.push(td('Actions', {}, renderActions(c, who)));
    return el('tr', { id: 'cred-' + c.id, data: { id: String(c.id), provider, status: c.status } }, cells);
  }

  function renderWindows(windows) {
    if (!windows || !windows.length) return el('span', { class: 'hint' }, '—');
    const list = el('ul', { class: 'plain windows' });
    for (const w of windows) {
      const pct = Math.max(0, Math.min(100, Number(w.used_percent) || 0));
      const meter = el('span', { class: 'meter' + (pct >= 100 ? ' full' : pct >= 80 ? ' warn' : ''), 'aria-hidden': 'true' },
        el('span', {}));
      meter.firstChild.style.width = pct + '%';
      const label = [w.name + ' ' + (Math.round(pct * 10) / 10) + '% used'];
      const win = fmtWindow(w.window_minutes);
      if (win) label.push(' · ' + win);
      const reset = time(w.reset_at);
      if (reset && reset > now()) label.push(' · ', countdown(reset, 'resets in '));
      list.append(el('li', {}, el('span', {}, label), meter));
    }
    return list;
  }

  function renderActions(c, who) {
    const box = el('div', { class: 'actions' });
    const button = (action, text, label, cls) => {
      const key = c.id + ':' + action;
      return el('button', {
        type: 'button', class: cls, 'aria-label': label,
        data: { action, id: String(c.id), focus: key },
        disabled: state.pending.has(key),
      }, text);
    };
    if (c.status === 'disabled') box.append(button('enable', 'Enable', 'Enable ' + who));
    else box.append(button('disable', 'Disable', 'Disable ' + who));
    box.append(button('refresh', 'Refresh', 'Refresh the token of ' + who));
    box.append(button('delete', 'Delete', 'Delete ' + who, 'danger'));
    return box;
  }

  // --- credential actions -----------------------------------------------

  ui.providers.addEventListener('click', (ev) => {
    const b = ev.target.closest('button[data-action]');
    if (!b || b.disabled) return;
    const id = b.dataset.id;
    const cred = state.credentials.find((c) => String(c.id) === id);
    const who = cred && cred.email ? cred.email + ' (#' + id + ')' : 'credential #' + id;
    const action = b.dataset.action;
    const focusKey = b.dataset.focus;
    if (action === 'delete') {
      confirmDelete(who).then((ok) => {
        if (ok) {
          act(focusKey, 'DELETE', '/admin/v1/credentials/' + encodeURIComponent(id), 'Deleted ' + who + '.', 'delete ' + who);
          return;
        }
        // The table may have been redrawn meanwhile: find the button again.
        const again = byFocusKey(focusKey);
        if (again) again.focus();
      });
      return;
    }
    const done = { disable: 'Disabled ', enable: 'Enabled ', refresh: 'Token refresh started for ' }[action];
    if (!done) return;
    act(focusKey, 'POST', '/admin/v1/credentials/' + encodeURIComponent(id) + ':' + action, done + who + '.', action + ' ' + who);
  });

  function byFocusKey(key) {
    return document.querySelector('[data-focus="' + CSS.escape(key) + '"]');
  }

  async function act(focusKey, method, path, doneText, what) {
    state.pending.add(focusKey);
    const b = byFocusKey(focusKey);
    if (b) b.disabled = true;
    try {
      await api(method, path, method === 'POST' ? '{}' : undefined);
      say(doneText);
    } catch (err) {
      if (err instanceof APIError && err.status === 401) {
        failed(err);
        return;
      }
      say('Could not ' + what + ': ' + describe(err));
    } finally {
      state.pending.delete(focusKey);
    }
    await load();
  }

  // describe is an error's text for the operator.
  function describe(err) {
    if (!(err instanceof APIError)) return String(err && err.message);
    if (err.status === 0) return 'network error, cannot reach Pollux.';
    return err.message + ' (HTTP ' + err.status + ').';
  }

  function confirmDelete(who) {
    return new Promise((resolve) => {
      ui.confirmText.textContent = 'Delete ' + who + '? Pollux stops using and refreshing it at once and ' +
        'forgets it; to use it again, add it anew.';
      const finish = (ok) => {
        ui.confirmOK.removeEventListener('click', yes);
        ui.confirmCancel.removeEventListener('click', no);
        ui.confirm.removeEventListener('cancel', no);
        if (ui.confirm.open) ui.confirm.close();
        resolve(ok);
      };
      const yes = () => finish(true);
      const no = (ev) => {
        if (ev) ev.preventDefault();
        finish(false);
      };
      ui.confirmOK.addEventListener('click', yes);
      ui.confirmCancel.addEventListener('click', no);
      ui.confirm.addEventListener('cancel', no);
      ui.confirm.showModal();
      ui.confirmCancel.focus();
    });
  }

  // --- adding credentials -----------------------------------------------

  // addBody turns the textarea into a resource:add body: JSON as pasted, or
  // one token per line. Nothing here echoes the input: even a JSON parse
  // error's message would quote it.
  function addBody(raw) {
    const text = raw.trim();
    if (!text) return { error: 'Paste at least one refresh token.' };
    if (text[0] === '[' || text[0] === '{') {
      try {
        JSON.parse(text);
      } catch {
        return { error: 'The text starts like JSON but is not valid JSON. Paste one token per line, or valid JSON.' };
      }
      return { body: text, count: text[0] === '[' ? JSON.parse(text).length : 1 };
    }
    const tokens = text.split(/\r?\n/)
      .map((l) => l.trim().replace(/,$/, '').replace(/^"(.*)"$/, '$1').trim())
      .filter(Boolean);
    return { body: JSON.stringify(tokens), count: tokens.length };
  }

  ui.addForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const provider = ui.addProvider.value;
    const parsed = addBody(ui.addTokens.value);
    if (parsed.error) {
      addSay(parsed.error);
      ui.addTokens.focus();
      return;
    }
    ui.addSubmit.disabled = true;
    addSay('Checking ' + parsed.count + (parsed.count === 1 ? ' token' : ' tokens') + ' with ' + providerLabel(provider) + '…');
    const key = state.key;
    try {
      const r = await api('POST', '/' + provider + '/resource:add?wait=true', parsed.body);
      // Tokens are in the pool's hands now: do not keep them on the page.
      ui.addTokens.value = '';
      let job = r.data;
      if (r.status === 202 || !job || !job.verdicts) job = await waitJob(provider, job && job.job);
      if (!job || state.key !== key) return;
      renderVerdicts(provider, job);
      const good = job.verdicts.filter((v) => GOOD_VERDICTS.has(v.result)).length;
      addSay('Checked ' + job.verdicts.length + ': ' + good + ' added or updated, ' + (job.verdicts.length - good) + ' not.');
      load();
    } catch (err) {
      if (err instanceof APIError && err.status === 401) failed(err);
      else addSay('Adding credentials failed: ' + describe(err));
    } finally {
      ui.addSubmit.disabled = false;
    }
  });

  async function waitJob(provider, id) {
    if (!id) throw new APIError(500, 'the answer named no job');
    for (let i = 0; i < JOB_POLL_MAX && state.key; i++) {
      addSay('Still checking (job ' + id + ')…');
      await new Promise((r) => setTimeout(r, JOB_POLL_MS));
      const r = await api('GET', '/admin/v1/jobs/' + encodeURIComponent(id));
      if (r.data && r.data.verdicts) renderVerdicts(provider, r.data);
      if (r.data && r.data.finished) return r.data;
    }
    return null;
  }

  function renderVerdicts(provider, job) {
    const names = PROVIDERS[provider] || { account: 'Account', tier: 'Tier' };
    const cols = ['#', 'Result', 'Email', names.account, names.tier, 'Reason', 'Warning'];
    const body = el('tbody', {});
    for (const v of job.verdicts || []) {
      const cls = GOOD_VERDICTS.has(v.result) ? 'v-good' : MEH_VERDICTS.has(v.result) ? 'v-meh' : 'v-bad';
      const reason = [v.reason || (v.url ? '' : '—')];
      if (v.url && v.url.toLowerCase().startsWith('https:')) {
        reason.push(' ', el('a', { href: v.url, target: '_blank', rel: 'noopener noreferrer' }, 'resolve'));
      }
      body.append(el('tr', { data: { result: v.result } },
        td('#', { class: 'num' }, String((v.index ?? 0) + 1)),
        td('Result', { class: cls + ' result' }, v.result),
        td('Email', {}, v.email || '—'),
        td(names.account, {}, v.project || v.account || '—'),
        td(names.tier, {}, v.tier || '—'),
        td('Reason', { class: v.reason ? 'err' : 'hint' }, reason),
        td('Warning', {}, v.warning || '—')));
    }
    const caption = 'Verdicts: ' + providerLabel(provider) + (job.job ? ', job ' + job.job : '') +
      (job.finished === false ? ' (running, ' + (job.done || 0) + ' of ' + (job.total || 0) + ')' : '');
    ui.verdicts.replaceChildren(el('div', { class: 'table-wrap' }, el('table', { class: 'cards verdicts' },
      el('caption', {}, caption),
      el('thead', {}, el('tr', {}, cols.map((c) => el('th', { scope: 'col' }, c)))), body)));
  }

  // --- start --------------------------------------------------------------

  if (state.key) showDashboard();
  else showLogin('');
})();
