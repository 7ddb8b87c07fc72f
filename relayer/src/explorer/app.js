'use strict';
// Switchyard explorer: message search + live route/lane panel.
//
// Served under a `default-src 'self'` CSP, so everything lives here: no inline
// script, no inline style, no network assets. API data only ever reaches the
// page through textContent / text nodes, so it can never inject markup.

(function () {
  const POLL_MS = 2000;
  // A hung hub must not freeze the poll loop, so every poll request gets a deadline.
  const POLL_TIMEOUT_MS = 5000;
  const HEX32 = /^0x[0-9a-f]{64}$/i;
  const HEX20 = /^0x[0-9a-f]{40}$/i;

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- DOM helpers

  // el('td', {class: 'num', text: 3}, child, 'text', ...). Strings passed as
  // children become text nodes (Node.append), never parsed HTML.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'text') node.textContent = String(value);
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  // A test/automation hook whose textContent is exactly the raw API value
  // ("" for null; CSS shows a dash for empty fields without touching the text).
  function field(name, value, cls) {
    return el('span', {
      class: cls || null,
      'data-field': name,
      text: value === null || value === undefined ? '' : value,
    });
  }

  // Status names come from the API; keep them out of class names unless they
  // are plain identifiers.
  function statusBadge(status, attrs) {
    const safe = /^[a-z_]+$/.test(status || '') ? status : 'unknown';
    return el('span', Object.assign({ class: `badge status-${safe}`, text: status || '' }, attrs));
  }

  function chainLabel(name, domain) {
    if (name) return domain === null || domain === undefined ? name : `${name} (${domain})`;
    return domain === null || domain === undefined ? '' : `domain ${domain}`;
  }

  function isoTime(ms) {
    return Number.isFinite(ms) ? new Date(ms).toISOString() : '';
  }

  function formatAge(ms) {
    if (!Number.isFinite(ms)) return '—';
    if (ms < 1000) return `${Math.round(ms)} ms`;
    if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
    const minutes = Math.floor(ms / 60000);
    return `${minutes} m ${Math.round((ms % 60000) / 1000)} s`;
  }

  function formatRate(rate) {
    return rate === null || rate === undefined ? '—' : rate.toFixed(1);
  }

  // ------------------------------------------------------------------- fetching

  // Resolves to {status, ok, body}; body is null when the answer is not JSON
  // (e.g. a proxy's HTML error page). Rejects only on network failure/abort.
  async function getJson(path, signal) {
    const res = await fetch(path, {
      headers: { Accept: 'application/json' },
      cache: 'no-store',
      signal,
    });
    let body = null;
    try {
      body = await res.json();
    } catch (_) {
      // Not JSON: callers fall back to the HTTP status.
    }
    return { status: res.status, ok: res.ok, body };
  }

  function apiError(answer) {
    const detail = answer.body && typeof answer.body.error === 'string' ? answer.body.error : null;
    return new Error(detail || `hub answered HTTP ${answer.status}`);
  }

  async function getJsonWithTimeout(path) {
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), POLL_TIMEOUT_MS);
    try {
      return await getJson(path, ctrl.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  // --------------------------------------------------------------------- search

  let searchSeq = 0;      // only the newest search may touch the page
  let searchAbort = null; // cancels the previous search's requests
  let listed = new Map(); // id -> message, for clicks in a result table
  let more = null;        // {key, q, next, label}: where the listed results go on

  // One page of /v1/messages?key=q: {messages, next} (next: the cursor of
  // the following page, null at the end).
  async function listBy(key, q, signal, cursor) {
    let path = `/v1/messages?${key}=${encodeURIComponent(q)}`;
    if (cursor) path += `&cursor=${encodeURIComponent(cursor)}`;
    const answer = await getJson(path, signal);
    if (!answer.ok) throw apiError(answer);
    const body = answer.body || {};
    return {
      messages: Array.isArray(body.messages) ? body.messages : [],
      next: typeof body.next_cursor === 'string' ? body.next_cursor : null,
    };
  }

  function found(page) {
    return page.messages.length > 0 || page.next !== null;
  }

  // Resolves a query to {single: message} or {list: [messages], next, key, q, label}.
  async function lookup(raw, signal) {
    const q = raw.toLowerCase();
    if (HEX20.test(q)) {
      const page = await listBy('sender', q, signal);
      if (!found(page)) throw new Error(`no messages from sender ${q}`);
      return { list: page.messages, next: page.next, key: 'sender', q, label: `from sender ${q}` };
    }
    if (!HEX32.test(q)) {
      const shown = raw.length > 80 ? `${raw.slice(0, 80)}…` : raw;
      throw new Error('expected a 0x-prefixed message id, transaction hash (32 bytes) or ' +
        `sender address (20 or 32 bytes), got "${shown}"`);
    }
    // 32 bytes is ambiguous: a message id, a transaction hash or a 32-byte
    // sender. Ids are the common case, so try them first.
    const one = await getJson(`/v1/messages/${q}`, signal);
    if (one.ok) return { single: one.body };
    if (one.status !== 404) throw apiError(one);
    const byTx = await listBy('tx', q, signal);
    if (found(byTx)) {
      return { list: byTx.messages, next: byTx.next, key: 'tx', q, label: `in transaction ${q}` };
    }
    const bySender = await listBy('sender', q, signal);
    if (found(bySender)) {
      return { list: bySender.messages, next: bySender.next, key: 'sender', q, label: `from sender ${q}` };
    }
    throw new Error(`no message, transaction or sender matches ${q}`);
  }

  function updateUrl(q) {
    const url = new URL(window.location.href);
    if (q) url.searchParams.set('q', q);
    else url.searchParams.delete('q');
    window.history.replaceState(null, '', url.toString());
  }

  function showError(text) {
    const box = $('error');
    box.textContent = text;
    box.hidden = !text;
  }

  function setBusy(busy) {
    const results = $('results');
    results.setAttribute('aria-busy', busy ? 'true' : 'false');
    if (busy) results.replaceChildren(el('p', { class: 'muted', text: 'Searching…' }));
  }

  async function onSearch(event) {
    event.preventDefault();
    const q = $('q').value.trim();
    updateUrl(q);
    const seq = ++searchSeq;
    if (searchAbort) searchAbort.abort();
    searchAbort = new AbortController();
    showError('');
    setBusy(true);
    try {
      const outcome = await lookup(q, searchAbort.signal);
      if (seq !== searchSeq) return;
      renderOutcome(outcome);
    } catch (err) {
      if (seq !== searchSeq || err.name === 'AbortError') return;
      $('results').replaceChildren();
      // fetch() rejects with a TypeError when the hub cannot be reached at all.
      showError(err instanceof TypeError ? `hub unreachable: ${err.message}` : err.message);
    } finally {
      if (seq === searchSeq) $('results').setAttribute('aria-busy', 'false');
    }
  }

  function renderOutcome(outcome) {
    const results = $('results');
    more = null;
    if (outcome.single) {
      listed = new Map();
      results.replaceChildren(renderJourney(outcome.single));
      return;
    }
    const list = outcome.list;
    listed = new Map(list.map((m) => [m.id, m]));
    more = { key: outcome.key, q: outcome.q, next: outcome.next, label: outcome.label };
    const slot = el('div', { id: 'journey-slot' });
    // A single hit needs no extra click: show its journey right away.
    if (list.length === 1 && !outcome.next) slot.append(renderJourney(list[0]));
    const button = el('button', { id: 'more', type: 'button', class: 'more', text: 'More' });
    button.addEventListener('click', onMore);
    button.hidden = !outcome.next;
    results.replaceChildren(
      el('p', { id: 'list-summary', class: 'summary' }),
      renderMessageTable(list),
      button,
      slot,
    );
    updateSummary();
  }

  function updateSummary() {
    const n = listed.size;
    const noun = n === 1 ? 'message' : 'messages';
    const rest = more && more.next ? ' (more to load)' : '';
    $('list-summary').textContent = `${n} ${noun} ${more ? more.label : ''}${rest}`;
  }

  // The next page of the listed results, appended to the table.
  async function onMore(event) {
    const button = event.currentTarget;
    const state = more;
    if (!state || !state.next) return;
    const seq = searchSeq;
    button.disabled = true;
    button.textContent = 'Loading…';
    showError('');
    try {
      const page = await listBy(state.key, state.q, searchAbort ? searchAbort.signal : undefined, state.next);
      if (seq !== searchSeq || state !== more) return;
      const body = $('message-list-body');
      for (const m of page.messages) {
        if (listed.has(m.id)) continue;
        listed.set(m.id, m);
        body.append(messageRow(m));
      }
      state.next = page.next;
      updateSummary();
    } catch (err) {
      if (seq !== searchSeq || err.name === 'AbortError') return;
      showError(err instanceof TypeError ? `hub unreachable: ${err.message}` : err.message);
    } finally {
      if (seq === searchSeq && state === more) {
        button.disabled = false;
        button.textContent = 'More';
        button.hidden = !state.next;
      }
    }
  }

  // Clicks on an id in a result table show that message's journey below the
  // table. Modified clicks fall through to the ?q= link (open in a new tab).
  function onResultsClick(event) {
    const link = event.target.closest('a.msg-link');
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    const message = listed.get(link.getAttribute('data-id'));
    const slot = $('journey-slot');
    if (!message || !slot) return;
    event.preventDefault();
    for (const row of document.querySelectorAll('#message-list tr.selected')) {
      row.classList.remove('selected');
    }
    link.closest('tr').classList.add('selected');
    slot.replaceChildren(renderJourney(message));
    updateUrl(message.id);
    slot.scrollIntoView({ behavior: 'smooth', block: 'nearest' });
  }

  function shareHref(q) {
    return `?q=${encodeURIComponent(q)}`;
  }

  function messageRow(m) {
    const msg = m.message || {};
    const origin = m.origin || {};
    const dest = m.destination || {};
    // data-col, not data-field: data-field is reserved for the journey.
    return el('tr', { 'data-id': m.id },
      el('td', { 'data-col': 'id' },
        el('a', { class: 'hash msg-link', href: shareHref(m.id), 'data-id': m.id, text: m.id })),
      el('td', { class: 'num', 'data-col': 'nonce', text: msg.nonce }),
      el('td', { 'data-col': 'origin', text: chainLabel(origin.chain, origin.domain) }),
      el('td', { 'data-col': 'destination', text: chainLabel(dest.chain, dest.domain) }),
      el('td', { 'data-col': 'status' }, statusBadge(m.status)));
  }

  function renderMessageTable(list) {
    const head = el('tr', {},
      ...['Message id', 'Nonce', 'Origin', 'Destination', 'Status'].map((h) => el('th', { scope: 'col', text: h })));
    return el('div', { class: 'table-wrap' },
      el('table', { id: 'message-list', class: 'data' }, el('thead', {}, head),
        el('tbody', { id: 'message-list-body' }, ...list.map(messageRow))));
  }

  // -------------------------------------------------------------------- journey

  function stageItem(stage, t0) {
    const iso = isoTime(stage.at_ms);
    const delta = Number.isFinite(stage.at_ms) && Number.isFinite(t0) ? `+${stage.at_ms - t0} ms` : '';
    const safe = /^[a-z_]+$/.test(stage.stage || '') ? stage.stage : 'unknown';
    return el('li', { class: `stage stage-${safe}`, 'data-stage': stage.stage },
      el('span', { class: 'stage-name', text: stage.stage }),
      el('time', { class: 'stage-time', datetime: iso, text: iso }),
      el('span', { class: 'stage-delta', text: delta }));
  }

  // rows: [[label, node], ...] rendered as a definition list.
  function factList(title, rows) {
    const dl = el('dl', { class: 'facts' });
    for (const [label, node] of rows) dl.append(el('dt', { text: label }), el('dd', {}, node));
    return el('section', { class: 'fact-group' }, el('h4', { text: title }), dl);
  }

  function renderJourney(m) {
    const stages = Array.isArray(m.stages) ? m.stages : [];
    const t0 = stages.length ? stages[0].at_ms : null;
    const msg = m.message || {};
    const origin = m.origin || {};
    const dest = m.destination || {};

    const failure = el('p', { class: 'failure' },
      el('strong', { text: 'Failure: ' }), field('failure', m.failure));
    // Keep the hook in the DOM (empty text) but out of sight when there is no failure.
    failure.hidden = m.failure === null || m.failure === undefined;

    return el('article', { id: 'journey', class: 'journey', 'data-status': m.status },
      el('header', { class: 'journey-head' },
        el('h3', { text: 'Message' }),
        field('id', m.id, 'hash'),
        statusBadge(m.status, { 'data-field': 'status' })),
      failure,
      el('ol', { class: 'stages' }, ...stages.map((s) => stageItem(s, t0))),
      el('div', { class: 'fact-grid' },
        factList('Origin', [
          ['Chain', document.createTextNode(chainLabel(origin.chain, origin.domain))],
          ['Block', field('origin-block', origin.block)],
          ['Transaction', field('origin-tx', origin.tx_hash, 'hash')],
        ]),
        factList('Destination', [
          ['Chain', document.createTextNode(chainLabel(dest.chain, dest.domain))],
          ['Lane', field('dest-lane', dest.lane)],
          ['Transaction', field('dest-tx', dest.tx_hash, 'hash')],
          ['Block', field('dest-block', dest.block)],
        ]),
        factList('Message', [
          ['Version', field('version', msg.version)],
          ['Nonce', field('nonce', msg.nonce)],
          ['Origin domain', field('origin-domain', msg.origin)],
          ['Sender', field('sender', msg.sender, 'hash')],
          ['Destination domain', field('destination-domain', msg.destination)],
          ['Recipient', field('recipient', msg.recipient, 'hash')],
          // Bodies over 64 bytes are not kept by the hub: length and hash
          // identify them (the body itself is in the origin transaction).
          ['Body', field('body', msg.body, 'hash body')],
          ['Body length', field('body-len', msg.body_len)],
          ['Body hash', field('body-hash', msg.body_hash, 'hash')],
        ])));
  }

  // ----------------------------------------------------------------- live panel

  // Previous route sample, for differencing cumulative counters into rates.
  let lastSample = null; // {at, delivered: Map(routeKey -> count)}
  let lastRates = null;  // Map(routeKey -> rate|null), null before 2 samples
  const openLanes = new Set(); // lanes whose shard <details> the user opened

  function routeKey(r) {
    return `${r.origin_domain}-${r.destination_domain}`;
  }

  function delivered(r) {
    const n = r.totals && r.totals.delivered;
    return Number.isFinite(n) ? n : null;
  }

  // Returns Map(routeKey -> msgs/s or null), or null when there is no earlier sample.
  function computeRates(sample) {
    const now = new Map(sample.routes.map((r) => [routeKey(r), delivered(r)]));
    const prev = lastSample;
    const dt = prev ? (sample.sampled_at_ms - prev.at) / 1000 : 0;
    // Same (or older) sample as last time: nothing new to difference; keep rates.
    if (prev && !(dt > 0)) return lastRates;
    lastSample = { at: sample.sampled_at_ms, delivered: now };
    if (!prev) return null;
    const rates = new Map();
    for (const [key, count] of now) {
      const before = prev.delivered.get(key);
      const diff = count !== null && Number.isFinite(before) ? count - before : null;
      // A negative difference means the hub restarted and counters reset.
      rates.set(key, diff !== null && diff >= 0 ? diff / dt : null);
    }
    lastRates = rates;
    return rates;
  }

  function renderRoutes(sample) {
    if (!Array.isArray(sample.routes)) throw new Error('malformed /v1/routes answer');
    const rates = computeRates(sample);
    let total = null;
    if (rates) {
      total = 0;
      for (const rate of rates.values()) if (rate !== null) total += rate;
    }
    $('throughput').textContent = total === null ? '—' : `${total.toFixed(1)} msg/s`;

    const rows = sample.routes.map((r) => {
      const key = routeKey(r);
      const totals = r.totals || {};
      return el('tr', { 'data-route': key },
        el('td', { text: `${r.origin} → ${r.destination}` }),
        el('td', { 'data-col': 'trust', class: `trust trust-${r.origin_trust || 'unknown'}`, text: TRUST_LABELS[r.origin_trust] || '—' }),
        el('td', { class: 'num', 'data-col': 'rate', text: formatRate(rates ? rates.get(key) : null) }),
        el('td', { class: 'num', 'data-col': 'delivered', text: totals.delivered }),
        el('td', { class: 'num', 'data-col': 'failed', text: totals.failed }),
        el('td', { class: 'num', 'data-col': 'dead_lettered', text: totals.dead_lettered }));
    });
    $('routes-body').replaceChildren(...(rows.length ? rows : [placeholderRow('no routes yet', 6)]));
  }

  // What each origin mode trusts, in the words of README's table.
  const TRUST_LABELS = {
    beacon: 'beacon-finalized',
    cometbft: 'CometBFT light client',
    header_chain_quorum: 'endpoint quorum',
    single_endpoint: 'single endpoint (trusted)',
    rollup_final: 'rollup, final proposals',
    rollup_min_age: 'rollup, minimum age (weaker)',
  };

  function placeholderRow(text, colspan) {
    return el('tr', { class: 'placeholder' }, el('td', { colspan, text }));
  }

  function shardDetails(lane) {
    const shards = Array.isArray(lane.shards) ? lane.shards : [];
    const key = String(lane.domain);
    const table = el('table', { class: 'data shards' },
      el('thead', {}, el('tr', {},
        ...['Shard', 'Entries', 'Pending', 'Oldest age'].map((h) => el('th', { scope: 'col', text: h })))),
      el('tbody', {}, ...shards.map((s) => el('tr', { 'data-shard': s.shard },
        el('td', { text: s.shard }),
        el('td', { class: 'num', text: s.entries }),
        el('td', { class: 'num', text: s.pending }),
        el('td', { class: 'num', text: formatAge(s.oldest_age_ms) })))));
    const details = el('details', { 'data-shards': key, open: openLanes.has(key) },
      el('summary', { text: `${shards.length} shard${shards.length === 1 ? '' : 's'}` }), table);
    // The table is rebuilt every poll; remember which ones the user opened.
    details.addEventListener('toggle', () => {
      if (details.open) openLanes.add(key);
      else openLanes.delete(key);
    });
    return details;
  }

  function renderLanes(sample) {
    if (!Array.isArray(sample.lanes)) throw new Error('malformed /v1/lanes answer');
    const rows = sample.lanes.map((l) => el('tr', { 'data-lane': l.domain },
      el('td', { text: chainLabel(l.destination, l.domain) }),
      el('td', { class: 'num', 'data-col': 'entries', text: l.entries }),
      el('td', { class: 'num', 'data-col': 'pending', text: l.pending }),
      el('td', { class: 'num', 'data-col': 'oldest-age', text: formatAge(l.oldest_age_ms) }),
      el('td', {}, shardDetails(l))));
    $('lanes-body').replaceChildren(...(rows.length ? rows : [placeholderRow('no lanes yet', 5)]));
  }

  function setLiveStatus(ok, sampledAt) {
    const status = $('live-status');
    status.setAttribute('data-state', ok ? 'ok' : 'error');
    status.textContent = ok
      ? `updated ${Number.isFinite(sampledAt) ? new Date(sampledAt).toLocaleTimeString() : 'just now'}`
      : 'hub unreachable — retrying';
  }

  // Fetches and renders one endpoint; returns the sample time, or throws.
  async function refresh(path, render) {
    const answer = await getJsonWithTimeout(path);
    if (!answer.ok || !answer.body) throw apiError(answer);
    render(answer.body);
    return answer.body.sampled_at_ms;
  }

  // One poll at a time: the next one is scheduled only after this one settles,
  // and always scheduled, whatever went wrong.
  async function poll() {
    try {
      const [routes, lanes] = await Promise.allSettled([
        refresh('/v1/routes', renderRoutes),
        refresh('/v1/lanes', renderLanes),
      ]);
      const ok = routes.status === 'fulfilled' && lanes.status === 'fulfilled';
      setLiveStatus(ok, ok ? routes.value : null);
    } catch (_) {
      setLiveStatus(false);
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  // ----------------------------------------------------------------------- init

  function submit(form) {
    if (typeof form.requestSubmit === 'function') form.requestSubmit();
    else form.dispatchEvent(new Event('submit', { cancelable: true }));
  }

  function init() {
    const form = $('search');
    form.addEventListener('submit', onSearch);
    $('results').addEventListener('click', onResultsClick);
    // Shared links: ?q=... runs the very same submit path as a click.
    const q = new URLSearchParams(window.location.search).get('q');
    if (q) {
      $('q').value = q;
      submit(form);
    }
    poll();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
