// muster dashboard: plain JavaScript, no framework, no network beyond the
// musterd that serves it. Reads the HTTP/JSON API (/v1/...), stays live on
// the server-sent event stream /v1/realms/{realm}/watch (read with fetch()
// so the Authorization header can be sent; EventSource cannot), resumes
// with Last-Event-ID after a broken connection, and reloads on `reset`.
'use strict';

(() => {
  const TOKEN_KEY = 'muster.token';
  const HEALTHS = ['PASSING', 'WARNING', 'STARTING', 'CRITICAL', 'UNSPECIFIED'];
  const DEFAULT_PROTECTION_SHARE = 0.5;

  const $ = (sel, root = document) => root.querySelector(sel);
  const main = $('#main');

  // ---------------------------------------------------------------- helpers
  function esc(value) {
    return String(value ?? '').replace(/[&<>"']/g, (c) => ({
      '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
    })[c]);
  }
  const enc = encodeURIComponent;
  const strip = (value, prefix) =>
    (value || '').startsWith(prefix) ? value.slice(prefix.length) : (value || 'UNSPECIFIED');
  const healthOf = (inst) => strip(inst.health, 'HEALTH_');
  const adminOf = (inst) => strip(inst.adminState, 'ADMIN_STATE_');
  const causeOf = (ev) => strip(ev.cause, 'CAUSE_');
  const keyOf = (inst) => `${inst.service}/${inst.id}`;
  const isRoutable = (inst) => adminOf(inst) === 'ENABLED' &&
      (healthOf(inst) === 'PASSING' || healthOf(inst) === 'WARNING');

  function duration(ms) {
    let s = Math.max(0, Math.floor(ms / 1000));
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    if (d) return `${d}d ${h}h`;
    if (h) return `${h}h ${m}m`;
    if (m) return `${m}m ${s}s`;
    return `${s}s`;
  }
  // A <time> whose text the clock below keeps current ("3m 2s").
  function since(iso, suffix = '') {
    if (!iso) return '<span class="muted">–</span>';
    return `<time datetime="${esc(iso)}" data-since="${esc(iso)}" data-suffix="${esc(suffix)}"` +
        ` title="${esc(new Date(iso).toLocaleString())}">${duration(Date.now() - Date.parse(iso))}${esc(suffix)}</time>`;
  }
  function tickClock() {
    for (const el of document.querySelectorAll('[data-since]')) {
      el.textContent = duration(Date.now() - Date.parse(el.dataset.since)) + (el.dataset.suffix || '');
    }
  }
  setInterval(tickClock, 1000);  // relative times only; no request is made

  const badge = (kind, value) => `<span class="badge ${kind}-${esc(value)}">${esc(value)}</span>`;

  // Replaces el's content, keeping keyboard focus on the element with the
  // same data-key (a re-render must not throw a keyboard user back to the
  // top of the page).
  function patch(el, html) {
    const active = document.activeElement;
    const key = active && el.contains(active) ? active.dataset.key : null;
    el.innerHTML = html;
    if (key) {
      const again = el.querySelector(`[data-key="${CSS.escape(key)}"]`);
      if (again) again.focus();
    }
  }

  // ------------------------------------------------------------ API access
  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  let tokenPrompt = null;  // the open prompt's promise, shared by callers
  function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }
  function authHeaders() {
    const t = token();
    return t ? { Authorization: `Bearer ${t}` } : {};
  }
  // Shows the token dialog; resolves when a token was entered.
  function askToken(why) {
    const dialog = $('#token-dialog');
    if (tokenPrompt) {
      // Still waiting (perhaps closed with Escape): show it again.
      if (!dialog.open) dialog.showModal();
      return tokenPrompt;
    }
    $('#token-why').textContent = why;
    $('#token-input').value = '';
    tokenPrompt = new Promise((resolve) => {
      $('#token-form').onsubmit = (e) => {
        e.preventDefault();
        const value = $('#token-input').value.trim();
        if (!value) return;
        sessionStorage.setItem(TOKEN_KEY, value);
        dialog.close();
        tokenPrompt = null;
        updateTokenButton();
        resolve();
      };
    });
    if (!dialog.open) dialog.showModal();
    $('#token-input').focus();
    return tokenPrompt;
  }
  function updateTokenButton() { $('#forget-token').hidden = !token(); }
  $('#forget-token').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    updateTokenButton();
    route();
  });

  async function errorOf(res) {
    let code = `HTTP_${res.status}`;
    let message = res.statusText || 'request failed';
    try {
      const body = await res.json();
      code = body.code || code;
      message = body.message || message;
    } catch (_) { /* not JSON */ }
    return new ApiError(res.status, code, message);
  }

  // fetch() of the API with the token; a 401 asks for a (new) token and
  // retries. Resolves to the parsed JSON body, rejects with ApiError.
  async function api(path, options = {}) {
    for (;;) {
      const res = await fetch(path, {
        ...options,
        headers: { Accept: 'application/json', ...authHeaders(), ...(options.headers || {}) },
      });
      if (res.ok) return res.json();
      const err = await errorOf(res);
      if (res.status === 401) {
        await askToken(token()
          ? `The token was not accepted: ${err.message}`
          : 'This musterd requires an access token (musterd --auth). It is kept in this tab only (sessionStorage).');
        continue;
      }
      throw err;
    }
  }
  const post = (path, body) => api(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });

  // ----------------------------------------------------- the event stream
  // One realm's watch: a snapshot of its instances, then put and delete
  // events. `onChange(kind, event)` runs after the model changed.
  class RealmWatch {
    constructor(realm, onChange) {
      this.realm = realm;
      this.onChange = onChange;
      this.instances = new Map();   // "service/id" -> Instance
      this.loaded = false;
      this.error = null;            // ApiError of a refused watch
      this.lastEventId = '';
      this.revision = 0;
      this.closed = false;
      this.backoff = 250;
      this.controller = null;
      this.connected = false;
      this.everConnected = false;
      this.run();
    }

    close() {
      this.closed = true;
      if (this.controller) this.controller.abort();
    }

    async run() {
      while (!this.closed) {
        this.controller = new AbortController();
        try {
          const headers = { Accept: 'text/event-stream', ...authHeaders() };
          if (this.lastEventId) headers['Last-Event-ID'] = this.lastEventId;
          const res = await fetch(`/v1/realms/${enc(this.realm)}/watch`,
                                  { headers, signal: this.controller.signal, cache: 'no-store' });
          if (!res.ok) {
            const err = await errorOf(res);
            if (res.status === 401) {
              await askToken(`Watching realm "${this.realm}" needs a token: ${err.message}`);
              continue;
            }
            if (res.status >= 400 && res.status < 500) {
              // Not allowed or no such realm: say so and stop.
              this.error = err;
              this.loaded = true;
              this.onChange('error');
              return;
            }
            throw err;
          }
          this.connected = true;
          this.everConnected = true;
          this.error = null;
          setLive();
          await this.read(res.body.getReader());
        } catch (err) {
          if (this.closed) return;
          console.warn(`watch ${this.realm}:`, err);
        }
        this.connected = false;
        setLive();
        if (this.closed) return;
        await new Promise((r) => setTimeout(r, this.backoff));
        this.backoff = Math.min(this.backoff * 2, 5000);
      }
    }

    async read(reader) {
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        this.backoff = 250;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + (buffer[cut] === '\r' ? 4 : 2));
          this.dispatch(block);
        }
      }
    }

    dispatch(block) {
      let id = null;
      let type = 'message';
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (!line || line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'id') id = value;
        else if (field === 'event') type = value;
        else if (field === 'data') data.push(value);
      }
      let body = null;
      if (data.length) {
        try { body = JSON.parse(data.join('\n')); } catch (_) { body = null; }
      }
      if (type === 'reset') {
        // The stream cannot resume: start over with a fresh snapshot.
        this.lastEventId = '';
        if (this.controller) this.controller.abort();
        return;
      }
      if (id !== null && id !== '') this.lastEventId = id;
      if (type === 'snapshot' && body) {
        this.instances.clear();
        for (const inst of body.instances || []) this.instances.set(keyOf(inst), inst);
        this.revision = Number(body.revision || id || 0);
        this.loaded = true;
        this.onChange('snapshot');
      } else if ((type === 'put' || type === 'delete') && body && body.instance) {
        const inst = body.instance;
        if (type === 'put') this.instances.set(keyOf(inst), inst);
        else this.instances.delete(keyOf(inst));
        this.revision = Number(body.revision || id || this.revision);
        this.onChange(type, body);
      } else if (type === 'progress') {
        if (body && body.revision) this.revision = Number(body.revision);
      }
    }
  }

  const watches = new Map();  // realm -> RealmWatch
  let renderQueued = false;
  let currentView = null;
  function scheduleRender() {
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(() => {
      renderQueued = false;
      if (currentView && currentView.update) currentView.update();
    });
  }
  function watchRealms(realms) {
    for (const [name, w] of watches) {
      if (!realms.includes(name)) { w.close(); watches.delete(name); }
    }
    for (const name of realms) {
      if (!watches.has(name)) {
        watches.set(name, new RealmWatch(name, (kind, event) => {
          if (currentView && currentView.onEvent) currentView.onEvent(name, kind, event);
          scheduleRender();
        }));
      }
    }
    setLive();
  }
  function setLive() {
    const el = $('#live');
    const all = [...watches.values()].filter((w) => !w.error);
    if (!all.length) { el.textContent = ''; el.className = 'live'; return; }
    const up = all.every((w) => w.connected);
    const first = all.some((w) => !w.connected && !w.everConnected);
    el.textContent = up ? 'live' : first ? 'connecting…' : 'reconnecting…';
    el.className = `live ${up ? 'ok' : 'bad'}`;
  }

  // Counts of one realm's instances, from its watch.
  function countsOf(instances) {
    const c = { total: 0, routable: 0, draining: 0, checked: 0, paused: false, services: new Set() };
    for (const h of HEALTHS) c[h] = 0;
    for (const inst of instances) {
      c.total++;
      c[healthOf(inst)] = (c[healthOf(inst)] || 0) + 1;
      if (isRoutable(inst)) c.routable++;
      if (adminOf(inst) === 'DRAINING') c.draining++;
      const kind = strip(inst.check && inst.check.kind, 'CHECK_KIND_');
      if (kind !== 'NONE' && kind !== 'UNSPECIFIED') c.checked++;
      if (inst.healthDetail && inst.healthDetail.evictionPaused) c.paused = true;
      c.services.add(inst.service);
    }
    return c;
  }

  function healthBar(c) {
    const parts = HEALTHS.filter((h) => c[h]).map((h) =>
      `<span class="${h}" style="width:${(100 * c[h]) / c.total}%" title="${h}: ${c[h]}"></span>`);
    const words = HEALTHS.filter((h) => c[h]).map((h) => `${c[h]} ${h.toLowerCase()}`).join(', ');
    return `<div class="bar" role="img" aria-label="${esc(words || 'no instances')}">${parts.join('')}</div>`;
  }

  function errorBox(err) {
    const what = err.status === 403 ? 'Not permitted with this token' : 'Error';
    return `<p class="error" role="alert" data-testid="error">${esc(what)}: ${esc(err.code || '')} ${esc(err.message)}</p>`;
  }

  function crumbs(parts) {
    const links = [`<a href="#/">realms</a>`];
    for (const [label, href] of parts) {
      links.push('<span class="sep">/</span>');
      links.push(href ? `<a href="${href}">${esc(label)}</a>` : `<span aria-current="page">${esc(label)}</span>`);
    }
    $('#crumbs').innerHTML = links.join('');
  }

  // -------------------------------------------------------------- overview
  function overviewView() {
    let realms = null;   // ListRealmsResponse.realms
    let info = null;
    let error = null;
    crumbs([]);
    main.innerHTML = `<h1>Realms</h1><div id="server" class="note"></div>
      <div id="realms" class="cards" data-testid="realms"><p class="muted">loading…</p></div>
      <p class="note">Eviction protection is in force while more than the realm’s share of its
      checked instances (at least 3) are critical: evictions then wait. A realm without a share of
      its own is shown against 50%, musterd’s default <code>--eviction-protection-share</code>.</p>`;
    const load = async () => {
      try {
        const [r, i] = await Promise.all([api('/v1/realms'), api('/v1/info').catch(() => null)]);
        realms = r.realms || [];
        info = i;
        error = null;
        watchRealms(realms.map((s) => s.realm.name));
      } catch (err) {
        error = err;
      }
      view.update();
    };
    let reloading = false;
    let infoDue = null;
    const view = {
      onEvent(realm, kind) {
        // The server line (revision, counts) follows the events, at most
        // twice a second; no request is made while nothing changes.
        if (!infoDue) {
          infoDue = setTimeout(async () => {
            infoDue = null;
            try { info = await api('/v1/info'); view.update(); } catch (_) { /* keep the last */ }
          }, 500);
        }
        // A realm appears or goes only through the Realms API; a new
        // instance in an unknown realm reloads the list once.
        if (kind === 'error' || reloading || !realms) return;
        if (!realms.some((s) => s.realm.name === realm)) { reloading = true; load().then(() => { reloading = false; }); }
      },
      update() {
        if (currentView !== view) return;  // a late answer after navigating away
        if (info) {
          $('#server').innerHTML = `musterd ${esc(info.version)} · revision ${esc(info.revision)} · ` +
              `${esc(info.realmCount)} realms · ${esc(info.instanceCount)} instances · ` +
              `${esc(info.openWatchers)} open watchers · health checker ${info.healthCheckerEnabled ? 'on' : 'off'}` +
              (info.replication && info.replication.store ? ` · store ${esc(info.replication.store)}` : '') +
              ` · up ${since(info.startedAt)}`;
        }
        if (error) { patch($('#realms'), errorBox(error)); return; }
        if (!realms) return;
        if (!realms.length) { patch($('#realms'), '<p class="muted">No realms yet.</p>'); return; }
        patch($('#realms'), realms.map((s) => {
          const name = s.realm.name;
          const w = watches.get(name);
          if (w && w.error) {
            return `<section class="card" data-realm="${esc(name)}"><h2><a data-key="r:${esc(name)}" href="#/realm/${enc(name)}">${esc(name)}</a></h2>${errorBox(w.error)}</section>`;
          }
          const live = w && w.loaded;
          const c = live ? countsOf(w.instances.values()) : null;
          const share = (s.realm.settings && s.realm.settings.evictionProtectionShare) || DEFAULT_PROTECTION_SHARE;
          const criticalShare = c && c.checked ? c.CRITICAL / c.checked : 0;
          // The checker's rule: with at least 3 checked instances, more
          // than the share of them critical holds evictions back.
          const inForce = c && (c.paused || (c.checked >= 3 && c.CRITICAL > share * c.checked));
          const protection = !c ? '…'
              : share >= 1 ? 'disabled (share 1)'
              : inForce ? `<strong class="h-CRITICAL">in force</strong>`
              : 'not in force';
          const num = (v, fallback) => esc(c ? v : fallback);
          return `<section class="card" data-realm="${esc(name)}" data-testid="realm-card">
            <h2><a data-key="r:${esc(name)}" href="#/realm/${enc(name)}">${esc(name)}</a></h2>
            ${s.realm.settings && s.realm.settings.description ? `<p class="muted">${esc(s.realm.settings.description)}</p>` : ''}
            ${c ? healthBar(c) : ''}
            <dl class="stats">
              <dt>services</dt><dd data-stat="services">${num(c && c.services.size, s.serviceCount)}</dd>
              <dt>instances</dt><dd data-stat="instances">${num(c && c.total, s.instanceCount)}</dd>
              <dt>routable</dt><dd data-stat="routable">${num(c && c.routable, s.routableCount)}</dd>
              <dt>critical</dt><dd data-stat="critical">${num(c && c.CRITICAL, '…')}</dd>
              <dt>draining</dt><dd data-stat="draining">${num(c && c.draining, '…')}</dd>
              <dt>eviction protection</dt><dd data-stat="protection">${protection}</dd>
              <dt>critical share</dt><dd>${c && c.checked ? `${Math.round(criticalShare * 100)}% of ${c.checked} checked (limit ${Math.round(share * 100)}%)` : '–'}</dd>
            </dl></section>`;
        }).join(''));
      },
    };
    load();
    return view;
  }

  // ------------------------------------------------------------ one realm
  function realmView(realm) {
    crumbs([[realm, null]]);
    watchRealms([realm]);
    main.innerHTML = `<h1>Realm ${esc(realm)}</h1>
      <div id="services" data-testid="services"><p class="muted">loading…</p></div>`;
    return {
      update() {
        const w = watches.get(realm);
        if (!w || !w.loaded) return;
        if (w.error) { patch($('#services'), errorBox(w.error)); return; }
        const bySvc = new Map();
        for (const inst of w.instances.values()) {
          if (!bySvc.has(inst.service)) bySvc.set(inst.service, []);
          bySvc.get(inst.service).push(inst);
        }
        const names = [...bySvc.keys()].sort();
        if (!names.length) { patch($('#services'), '<p class="muted">No services in this realm.</p>'); return; }
        patch($('#services'), `<table><caption class="sr-only">Services of realm ${esc(realm)}</caption>
          <thead><tr><th>Service</th><th class="num">Routable / total</th><th>Health</th><th class="num">Critical</th><th class="num">Draining</th></tr></thead>
          <tbody>${names.map((svc) => {
            const c = countsOf(bySvc.get(svc));
            return `<tr data-service="${esc(svc)}"><td><a data-key="s:${esc(svc)}" href="#/realm/${enc(realm)}/service/${enc(svc)}">${esc(svc)}</a></td>
              <td class="num" data-stat="routable-total">${c.routable} / ${c.total}</td>
              <td>${healthBar(c)}</td><td class="num">${c.CRITICAL}</td><td class="num">${c.draining}</td></tr>`;
          }).join('')}</tbody></table>`);
      },
    };
  }

  // ----------------------------------------------------------- one service
  const COLUMNS = [
    ['id', 'ID', (i) => i.id],
    ['health', 'Health', (i) => HEALTHS.indexOf(healthOf(i))],
    ['admin', 'Admin', (i) => adminOf(i)],
    ['zone', 'Zone', (i) => i.zone || ''],
    ['version', 'Version', (i) => i.version || ''],
    ['tags', 'Tags', (i) => (i.tags || []).join(',')],
    ['address', 'Address', (i) => `${i.address}:${String(i.port || 0).padStart(5, '0')}`],
    ['output', 'Last check', (i) => (i.healthDetail && i.healthDetail.output) || ''],
    ['since', 'In state for', (i) => -Date.parse(i.statusChangedAt || i.registeredAt || 0)],
  ];

  function serviceView(realm, service) {
    crumbs([[realm, `#/realm/${enc(realm)}`], [service, null]]);
    watchRealms([realm]);
    const state = { sort: 'id', dir: 1, tag: '', zone: '', health: '' };
    main.innerHTML = `<h1>Service ${esc(service)} <span class="muted" id="svc-count"></span></h1>
      <form class="filters" id="filters" role="search" aria-label="Filter instances">
        <label>Tag <select id="f-tag" name="tag"><option value="">any</option></select></label>
        <label>Zone <select id="f-zone" name="zone"><option value="">any</option></select></label>
        <label>Health <select id="f-health" name="health"><option value="">any</option>
          ${HEALTHS.slice(0, 4).map((h) => `<option>${h}</option>`).join('')}</select></label>
        <button type="reset">Clear filters</button>
      </form>
      <div id="instances" data-testid="instances"><p class="muted">loading…</p></div>`;
    const form = $('#filters');
    form.addEventListener('change', () => {
      state.tag = $('#f-tag').value; state.zone = $('#f-zone').value; state.health = $('#f-health').value;
      view.update();
    });
    form.addEventListener('reset', () => {
      setTimeout(() => { state.tag = state.zone = state.health = ''; view.update(); });
    });
    $('#instances').addEventListener('click', (e) => {
      const btn = e.target.closest('button[data-sort]');
      if (!btn) return;
      if (state.sort === btn.dataset.sort) state.dir = -state.dir;
      else { state.sort = btn.dataset.sort; state.dir = 1; }
      view.update();
    });
    function fillSelect(select, values) {
      const current = select.value;
      const want = ['', ...values];
      const have = [...select.options].map((o) => o.value);
      if (want.join('\n') === have.join('\n')) return;
      select.innerHTML = want.map((v) => `<option value="${esc(v)}">${v ? esc(v) : 'any'}</option>`).join('');
      select.value = want.includes(current) ? current : '';
    }
    const view = {
      update() {
        const w = watches.get(realm);
        if (!w || !w.loaded) return;
        if (w.error) { patch($('#instances'), errorBox(w.error)); return; }
        const all = [...w.instances.values()].filter((i) => i.service === service);
        fillSelect($('#f-tag'), [...new Set(all.flatMap((i) => i.tags || []))].sort());
        fillSelect($('#f-zone'), [...new Set(all.map((i) => i.zone).filter(Boolean))].sort());
        state.tag = $('#f-tag').value; state.zone = $('#f-zone').value;
        const shown = all.filter((i) => (!state.tag || (i.tags || []).includes(state.tag)) &&
            (!state.zone || i.zone === state.zone) && (!state.health || healthOf(i) === state.health));
        const col = COLUMNS.find((c) => c[0] === state.sort);
        shown.sort((a, b) => {
          const x = col[2](a); const y = col[2](b);
          const order = x < y ? -1 : x > y ? 1 : 0;
          return (order || (a.id < b.id ? -1 : 1)) * state.dir;
        });
        const c = countsOf(all);
        $('#svc-count').textContent = `· ${c.routable} routable of ${c.total}`;
        if (!all.length) { patch($('#instances'), '<p class="muted">No instances of this service.</p>'); return; }
        const head = COLUMNS.map(([key, label]) => {
          const sorted = state.sort === key ? (state.dir > 0 ? 'ascending' : 'descending') : 'none';
          return `<th aria-sort="${sorted}"><button type="button" data-sort="${key}" data-key="sort:${key}">${label}</button></th>`;
        }).join('');
        const rows = shown.map((i) => `<tr data-id="${esc(i.id)}" data-testid="instance-row">
          <td><a data-key="i:${esc(i.id)}" href="#/realm/${enc(realm)}/service/${enc(service)}/instance/${enc(i.id)}">${esc(i.id)}</a></td>
          <td data-col="health">${badge('h', healthOf(i))}</td>
          <td data-col="admin">${badge('a', adminOf(i))}</td>
          <td data-col="zone">${esc(i.zone || '')}</td>
          <td data-col="version">${esc(i.version || '')}</td>
          <td data-col="tags">${esc((i.tags || []).join(', '))}</td>
          <td>${esc(i.address)}:${esc(i.port)}</td>
          <td class="output">${esc((i.healthDetail && i.healthDetail.output) || '')}</td>
          <td>${since(i.statusChangedAt || i.registeredAt)}</td></tr>`).join('');
        patch($('#instances'), `<p class="note" data-testid="shown-count">${shown.length} of ${all.length} instances shown</p>
          <table><caption class="sr-only">Instances of ${esc(service)}; the column headers sort</caption>
          <thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table>`);
      },
    };
    return view;
  }

  // ---------------------------------------------------------- one instance
  function instanceView(realm, service, id) {
    crumbs([[realm, `#/realm/${enc(realm)}`], [service, `#/realm/${enc(realm)}/service/${enc(service)}`], [id, null]]);
    watchRealms([realm]);
    const base = `/v1/realms/${enc(realm)}/services/${enc(service)}/instances/${enc(id)}`;
    main.innerHTML = `<h1>Instance ${esc(service)}/${esc(id)}</h1>
      <div class="cols">
        <div>
          <section aria-labelledby="ex-h"><h2 id="ex-h">Explanation</h2><div id="explanation" data-testid="explanation"><p class="muted">loading…</p></div></section>
          <section aria-labelledby="ad-h"><h2 id="ad-h">Drain or enable</h2>
            <form class="admin" id="admin-form">
              <label for="reason">Reason <input id="reason" name="reason" maxlength="1024" placeholder="e.g. investigating 503s"></label>
              <button type="submit" value="drain" id="drain">Drain</button>
              <button type="submit" value="enable" id="enable">Enable</button>
            </form>
            <p id="admin-result" role="status" aria-live="polite" data-testid="admin-result"></p>
          </section>
          <section aria-labelledby="de-h"><h2 id="de-h">Details</h2><div id="details"></div></section>
        </div>
        <section aria-labelledby="tl-h"><h2 id="tl-h">Timeline</h2><div id="timeline" data-testid="timeline"><p class="muted">loading…</p></div></section>
      </div>`;
    let explained = null;
    let events = null;
    let loading = false;
    let again = false;
    async function load() {
      if (loading) { again = true; return; }
      loading = true;
      try {
        explained = await api(base);
      } catch (err) { explained = { error: err }; }
      try {
        const list = [];
        const seen = new Set();  // a page may repeat the last one's end
        let from = 0;
        for (let page = 0; page < 20; page++) {
          const r = await api(`/v1/realms/${enc(realm)}/events?service=${enc(service)}&id=${enc(id)}&limit=500` +
                              (from ? `&from_revision=${from}` : ''));
          for (const ev of r.events || []) {
            const key = `${ev.revision}/${ev.cause}/${ev.type}`;
            if (!seen.has(key)) { seen.add(key); list.push(ev); }
          }
          const next = Number(r.nextRevision || 0);
          if (!r.events || !r.events.length || !next || next <= from) break;
          from = next;
        }
        events = list;
      } catch (err) { events = { error: err }; }
      loading = false;
      view.update();
      if (again) { again = false; load(); }
    }
    $('#admin-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      const action = (e.submitter && e.submitter.value) || 'drain';
      const out = $('#admin-result');
      out.textContent = `${action === 'drain' ? 'Draining' : 'Enabling'}…`;
      try {
        const inst = await post(`${base}/${action}`, { reason: $('#reason').value });
        out.innerHTML = `Now ${badge('a', adminOf(inst))}${inst.adminReason ? ` (reason: “${esc(inst.adminReason)}”)` : ''}`;
      } catch (err) {
        out.innerHTML = errorBox(err);
      }
    });
    const view = {
      onEvent(r, kind, event) {
        if (r === realm && event && event.instance && event.instance.service === service && event.instance.id === id) load();
      },
      update() {
        if (currentView !== view) return;  // a late answer after navigating away
        const w = watches.get(realm);
        const live = w && w.instances.get(`${service}/${id}`);
        const inst = live || (explained && explained.instance);
        if (explained && explained.error) {
          patch($('#explanation'), errorBox(explained.error));
        } else if (explained && explained.explanation) {
          const ex = explained.explanation;
          const findings = (ex.findings || []).map((f) => {
            if (Array.isArray(f)) return [f[0], f[1]];
            if (typeof f === 'string') { const at = f.indexOf(':'); return at > 0 ? [f.slice(0, at), f.slice(at + 1)] : ['', f]; }
            return [f.label ?? f.name ?? f.key ?? '', f.text ?? f.value ?? f.detail ?? ''];
          });
          const routable = ex.routable !== undefined ? ex.routable : (inst ? isRoutable(inst) : false);
          patch($('#explanation'), `<p class="verdict ${routable ? 'yes' : 'no'}" data-testid="verdict">${esc(ex.verdict)}</p>
            <dl class="findings">${findings.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>
            ${(ex.hints || []).map((h) => `<p class="note">Hint: ${esc(h)}</p>`).join('')}`);
        }
        if (inst) {
          const d = inst.healthDetail || {};
          const rows = [
            ['Health', badge('h', healthOf(inst)) + ` for ${since(inst.statusChangedAt || inst.registeredAt)}`],
            ['Admin state', badge('a', adminOf(inst)) + (inst.adminReason ? ` ${esc(inst.adminReason)}` : '')],
            ['Address', esc(`${inst.address}:${inst.port}`)],
            ['Zone', esc(inst.zone || '–')], ['Version', esc(inst.version || '–')],
            ['Tags', esc((inst.tags || []).join(', ') || '–')], ['Weight', esc(inst.weight)],
            ['Metadata', esc(Object.entries(inst.metadata || {}).map(([k, v]) => `${k}=${v}`).join(', ') || '–')],
            ['Check', esc(strip(inst.check && inst.check.kind, 'CHECK_KIND_'))],
            ['Last check', d.lastCheckedAt ? `${since(d.lastCheckedAt, ' ago')}: ${esc(d.output || '')}` : esc(d.output || '–')],
            ['Last heartbeat', inst.lastHeartbeatAt ? since(inst.lastHeartbeatAt, ' ago') : '–'],
            ['Registered', since(inst.registeredAt, ' ago')],
            ['Revision', `created ${esc(inst.createRevision)}, modified ${esc(inst.modifyRevision)}`],
          ];
          patch($('#details'), `<dl class="findings" data-testid="details">${rows.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')}</dl>`);
        } else if (w && w.loaded && !w.error && !(explained && explained.instance)) {
          patch($('#details'), '<p class="muted">This instance is not registered (any more).</p>');
        }
        if (events && events.error) {
          patch($('#timeline'), errorBox(events.error));
        } else if (events) {
          const items = [...events].reverse().map((ev) => {
            const i = ev.instance || {};
            const h = healthOf(i);
            return `<li class="h-${esc(h)}" data-cause="${esc(causeOf(ev))}" data-testid="timeline-item">
              <div><strong>${esc(causeOf(ev).replace('_', ' ').toLowerCase())}</strong> ${badge('h', h)} ${badge('a', adminOf(i))}</div>
              <div class="note"><time datetime="${esc(ev.time)}">${esc(ev.time ? new Date(ev.time).toLocaleString() : '')}</time>
                · revision ${esc(ev.revision)}${ev.actor ? ` · ${esc(ev.actor)}` : ''}</div>
              ${ev.reason ? `<div>${esc(ev.reason)}</div>` : ''}</li>`;
          });
          patch($('#timeline'), items.length ? `<ol class="timeline">${items.join('')}</ol>` : '<p class="muted">No retained events.</p>');
        }
      },
    };
    load();
    return view;
  }

  // --------------------------------------------------------------- routing
  function route() {
    const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
    let view;
    if (parts[0] === 'realm' && parts.length === 2) view = realmView(parts[1]);
    else if (parts[0] === 'realm' && parts[2] === 'service' && parts.length === 4) view = serviceView(parts[1], parts[3]);
    else if (parts[0] === 'realm' && parts[2] === 'service' && parts[4] === 'instance' && parts.length === 6) {
      view = instanceView(parts[1], parts[3], parts[5]);
    } else view = overviewView();
    currentView = view;
    scheduleRender();
  }
  window.addEventListener('hashchange', () => { route(); main.focus(); });
  updateTokenButton();
  $('#footer').textContent = 'muster dashboard · live from the watch stream · theme follows the system setting';
  route();
})();
