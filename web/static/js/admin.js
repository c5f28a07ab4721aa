// The console at /admin: each page is shown to the users whose permissions allow it
// (GET /users/me). Approvals, users, roles, the audit log with its chain check, card projects,
// grants, quota, key batches and key search, giveaway draw logs and charts. Tables page on the
// server; every action goes through the REST API, which decides again.

import { h, clear, field, toast, ask } from './dom.js';
import { request, idempotencyKey, download } from './api.js';
import {
  shell, loading, empty, failure, errText, money, dateTime, pill, pagedTable, qs, can, hasRole, consoleAllowed,
} from './ui.js';
import { dailyBars, totals, lastDays } from './charts.js';
import { adPackages, agency, adChart } from './ads.js';

const PAGES = [
  { path: 'approvals', label: 'Streamer approvals', perm: 'streamers:approve', render: approvals },
  { path: 'users', label: 'Users', perm: 'users:manage', render: users },
  { path: 'roles', label: 'Roles & permissions', perm: 'roles:manage', render: roles },
  { path: 'audit', label: 'Audit log', perm: 'audit:read', render: audit },
  { path: 'ads', label: 'Ad packages', perm: 'ads:packages', render: adPackages },
  { path: 'agency', label: 'Agency: streamers and ads', role: 'agency', render: agency },
  { path: 'projects', label: 'Card projects', perm: 'cards:projects', render: projects },
  { path: 'grants', label: 'Grants', perm: 'cards:quota', render: grants },
  { path: 'quota', label: 'Quota & ledger', any: true, render: quota },
  { path: 'keys', label: 'Card keys', perm: 'cards:generate', alt: ['cards:projects', 'cards:quota'], render: keys },
  { path: 'stats', label: 'Charts', any: true, render: stats },
  { path: 'giveaways', label: 'Giveaway draws', any: true, render: giveaways },
];

function allowed(user, p) {
  if (p.any) return true;
  if (p.role) return hasRole(user, p.role);
  return can(user, p.perm) || (p.alt || []).some((x) => can(user, x));
}

export async function renderAdmin(app, path) {
  const { main, user } = await shell(app, { title: 'Console', current: '/admin', wide: true });
  if (!user) {
    main.append(empty('Sign in to use the console.', h('a', { class: 'btn btn-primary', href: `/login?next=${encodeURIComponent(path)}`, text: 'Sign in' })));
    return;
  }
  if (!consoleAllowed(user)) {
    main.append(empty('Your account has no console permissions.', h('a', { class: 'btn', href: '/', text: 'Back to the portal' })));
    return;
  }
  const pages = PAGES.filter((p) => allowed(user, p));
  const want = path.replace(/^\/admin\/?/, '').split('/')[0];
  const page = pages.find((p) => p.path === want) || pages[0];
  const side = h('nav', { class: 'console-nav', 'aria-label': 'Console' },
    h('ul', {}, pages.map((p) => h('li', {}, h('a', {
      href: `/admin/${p.path}`, id: `console-${p.path}`, text: p.label, 'aria-current': p === page ? 'page' : null,
    })))));
  const body = h('section', { class: 'console-body', id: `console-page-${page.path}`, 'aria-labelledby': 'console-title' },
    h('h1', { id: 'console-title', text: page.label }));
  main.append(h('div', { class: 'console' }, side, body));
  document.title = `${page.label} · Console · onstage`;
  try {
    await page.render(body, user);
  } catch (e) {
    body.append(failure(e, 'show this page'));
  }
}

function formRow(...fields) {
  return h('div', { class: 'row' }, fields);
}

function input(id, attrs = {}) {
  return h('input', { type: 'text', id, ...attrs });
}

function actionButton(text, fn, attrs = {}) {
  const b = h('button', { type: 'button', class: 'btn btn-small', text, ...attrs });
  b.addEventListener('click', async () => {
    b.disabled = true;
    try { await fn(); } catch (e) { toast(errText(e), 'error'); } finally { b.disabled = false; }
  });
  return b;
}

// ---- approvals: the waiting profile side by side with the decision ----------------------------

async function approvals(body) {
  const statusSel = h('select', { id: 'appr-status' }, ['pending', 'approved', 'rejected'].map((s) => h('option', { value: s, text: s })));
  const list = h('ul', { class: 'appr-list', id: 'appr-list' });
  const detail = h('div', { class: 'appr-detail card', id: 'appr-detail' }, h('p', { class: 'muted', text: 'Pick a profile on the left.' }));
  body.append(field('Show', statusSel).wrap, h('div', { class: 'side-by-side' }, h('div', { class: 'appr-left' }, list), detail));
  async function load() {
    clear(list).append(loading());
    let res;
    try {
      res = await request('GET', `/admin/streamers${qs({ status: statusSel.value, page_size: 50 })}`);
    } catch (e) {
      clear(list).append(failure(e, 'load the profiles'));
      return;
    }
    if (!res.items.length) { clear(list).append(empty(statusSel.value === 'pending' ? 'Nothing waits for approval.' : 'No profiles here.')); return; }
    clear(list).append(...res.items.map((p) => h('li', {}, h('button', {
      type: 'button', class: 'appr-item', dataset: { id: p.id }, id: `appr-${p.id}`,
      onclick: (e) => {
        for (const b of list.querySelectorAll('.appr-item')) b.removeAttribute('aria-current');
        e.currentTarget.setAttribute('aria-current', 'true');
        show(p);
      },
    }, h('strong', { text: p.display_name }), h('span', { class: 'muted small', text: ` ${p.city} · ${dateTime(p.updated_at)}` })))));
  }
  function show(p) {
    const reason = h('input', { type: 'text', id: 'reject-reason', maxlength: '500' });
    const err = h('p', { class: 'error', role: 'alert' });
    const decide = async (approve) => {
      err.textContent = '';
      if (!approve && !reason.value.trim()) { err.textContent = 'Say why, so the streamer can fix it.'; reason.focus(); return; }
      try {
        await request('PUT', `/admin/streamers/${encodeURIComponent(p.id)}/${approve ? 'approve' : 'reject'}`, approve ? undefined : { reason: reason.value.trim() });
        toast(approve ? `${p.display_name} is approved and listed.` : `${p.display_name} was sent back.`, 'success');
        clear(detail).append(h('p', { class: 'ok', role: 'status', id: 'appr-done', text: approve ? 'Approved.' : 'Rejected.' }));
        load();
      } catch (e) {
        err.textContent = errText(e);
      }
    };
    clear(detail).append(...[
      h('div', { class: 'gallery small-gallery' }, (p.photos || []).map((u, i) => h('img', { src: u, alt: `${p.display_name}, photo ${i + 1}`, class: 'gallery-photo' }))),
      h('h2', { text: p.display_name }),
      h('dl', { class: 'facts' },
        h('dt', { text: 'Status' }), h('dd', {}, pill(p.status)),
        h('dt', { text: 'City' }), h('dd', { text: p.city }),
        h('dt', { text: 'Games' }), h('dd', { text: (p.games || []).join(', ') }),
        h('dt', { text: 'Languages' }), h('dd', { text: (p.languages || []).join(', ') }),
        h('dt', { text: 'Price' }), h('dd', { text: `${money(p.price_per_hour, p.currency)} / hour` }),
        h('dt', { text: 'Time zone' }), h('dd', { text: p.time_zone }),
        h('dt', { text: 'Bio' }), h('dd', { text: p.bio || '—' }),
        p.reject_reason ? [h('dt', { text: 'Last reason' }), h('dd', { text: p.reject_reason })] : null),
      p.status === 'pending' ? h('div', { class: 'decide' },
        h('button', { type: 'button', class: 'btn btn-primary', id: 'approve-button', text: 'Approve', onclick: () => decide(true) }),
        field('Reason to reject', reason).wrap,
        h('button', { type: 'button', class: 'btn btn-danger', id: 'reject-button', text: 'Reject', onclick: () => decide(false) }), err) : null].filter(Boolean));
  }
  statusSel.addEventListener('change', load);
  await load();
}

// ---- users -------------------------------------------------------------------------------------

async function users(body, me) {
  const q = input('u-q', { placeholder: 'Email or name' });
  const role = input('u-role', { placeholder: 'e.g. streamer' });
  const status = h('select', { id: 'u-status' }, h('option', { value: '', text: 'Any' }), h('option', { value: 'active', text: 'Active' }), h('option', { value: 'locked', text: 'Locked' }));
  let roleNames = [];
  if (can(me, 'roles:manage')) {
    try { roleNames = (await request('GET', '/admin/roles')).items.map((r) => r.name); } catch { roleNames = []; }
  }
  const table = pagedTable({
    id: 'users-table',
    caption: 'Users',
    load: (query) => request('GET', `/admin/users${qs(query)}`),
    columns: [
      { label: 'Name', render: (u) => h('span', {}, h('strong', { text: u.display_name }), h('br'), h('span', { class: 'muted small', text: u.email })) },
      { label: 'Roles', render: (u) => h('span', {}, (u.roles || []).map((r) => h('span', { class: 'tag' }, r,
        can(me, 'roles:manage') ? h('button', {
          type: 'button', class: 'tag-x', 'aria-label': `Revoke ${r} from ${u.display_name}`, text: '×',
          onclick: async () => {
            try { await request('DELETE', `/admin/users/${encodeURIComponent(u.id)}/roles/${encodeURIComponent(r)}`); toast(`Revoked ${r}.`, 'success'); table.reload(); } catch (e) { toast(errText(e), 'error'); }
          },
        }) : null))) },
      { label: 'Status', render: (u) => pill(u.status) },
      { label: 'Created', render: (u) => dateTime(u.created_at, { dateStyle: 'medium' }) },
      { label: 'Actions', render: (u) => h('div', { class: 'cell-actions' },
        u.status === 'locked'
          ? actionButton('Unlock', async () => { await request('POST', `/admin/users/${encodeURIComponent(u.id)}/unlock`); toast('Unlocked.', 'success'); table.reload(); })
          : actionButton('Lock', async () => {
            if (await ask({ title: `Lock ${u.display_name}?`, message: 'They cannot sign in until unlocked.', buttons: [{ label: 'Cancel', value: null }, { label: 'Lock', value: 'yes', kind: 'danger' }] }) !== 'yes') return;
            await request('POST', `/admin/users/${encodeURIComponent(u.id)}/lock`); toast('Locked.', 'success'); table.reload();
          }),
        roleNames.length ? grantControl(u, roleNames, () => table.reload()) : null) },
    ],
  });
  const form = h('form', { class: 'filters-inline', role: 'search' },
    field('Search', q).wrap, field('Role', role).wrap, field('Status', status).wrap,
    h('button', { type: 'submit', class: 'btn', id: 'u-search', text: 'Filter' }));
  form.addEventListener('submit', (e) => { e.preventDefault(); table.reload({ q: q.value.trim(), role: role.value.trim(), status: status.value }); });
  body.append(form, table.el);
  await table.reload({});
}

function grantControl(u, roleNames, done) {
  const sel = h('select', { 'aria-label': `Role to grant ${u.display_name}`, class: 'grant-role' }, h('option', { value: '', text: 'Grant role…' }),
    roleNames.filter((r) => !(u.roles || []).includes(r)).map((r) => h('option', { value: r, text: r })));
  sel.addEventListener('change', async () => {
    if (!sel.value) return;
    try {
      await request('POST', `/admin/users/${encodeURIComponent(u.id)}/roles`, { role: sel.value });
      toast(`Granted ${sel.value}.`, 'success');
      done();
    } catch (e) {
      toast(errText(e), 'error');
      sel.value = '';
    }
  });
  return sel;
}

// ---- roles -------------------------------------------------------------------------------------

async function roles(body) {
  const list = h('div', { id: 'roles-list' }, loading());
  let perms = [];
  async function load() {
    let rs;
    try {
      [rs, perms] = await Promise.all([request('GET', '/admin/roles'), request('GET', '/admin/permissions').then((r) => r.items)]);
    } catch (e) {
      clear(list).append(failure(e, 'load the roles'));
      return;
    }
    clear(list).append(h('table', { class: 'table' },
      h('thead', {}, h('tr', {}, ['Role', 'Permissions', 'Holders', ''].map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', {}, rs.items.map((r) => h('tr', {},
        h('td', { 'data-label': 'Role' }, h('strong', { text: r.name }), r.system ? h('span', { class: 'muted small', text: ' (system)' }) : null, h('br'), h('span', { class: 'muted small', text: r.description || '' })),
        h('td', { 'data-label': 'Permissions' }, (r.permissions || []).map((p) => h('span', { class: 'tag', text: p.scope === 'all' ? p.permission : `${p.permission} (${p.scope})` }))),
        h('td', { 'data-label': 'Holders', text: String(r.users) }),
        h('td', {}, !r.system && !r.users ? actionButton('Delete', async () => { await request('DELETE', `/admin/roles/${encodeURIComponent(r.name)}`); toast('Deleted.', 'success'); load(); }) : null))))));
    drawForm();
  }
  const formBox = h('div');
  function drawForm() {
    const name = input('role-name', { pattern: '[a-z0-9_]{2,64}' });
    const desc = input('role-desc');
    const boxes = perms.map((p) => h('label', { class: 'check' }, h('input', { type: 'checkbox', value: p.name, class: 'perm-box' }), ` ${p.name}`, h('span', { class: 'muted small', text: ` — ${p.description}` })));
    const err = h('p', { class: 'error', role: 'alert' });
    const form = h('form', { class: 'card', novalidate: true, id: 'role-form' }, h('h2', { text: 'New role' }),
      formRow(field('Name (a-z, 0-9, _)', name).wrap, field('Description', desc).wrap),
      h('fieldset', { class: 'perm-grid' }, h('legend', { text: 'Permissions' }), boxes), err,
      h('button', { type: 'submit', class: 'btn btn-primary', id: 'role-create', text: 'Create role' }));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      err.textContent = '';
      try {
        await request('POST', '/admin/roles', { name: name.value.trim(), description: desc.value.trim(), permissions: [...form.querySelectorAll('.perm-box:checked')].map((b) => b.value) });
        toast('Role created.', 'success');
        load();
      } catch (x) { err.textContent = errText(x); }
    });
    clear(formBox).append(form);
  }
  body.append(list, formBox);
  await load();
}

// ---- audit -------------------------------------------------------------------------------------

async function audit(body) {
  const f = {
    actor: input('a-actor', { placeholder: 'user id' }), module: input('a-module', { placeholder: 'e.g. role' }),
    operation: input('a-operation', { placeholder: 'e.g. streamer:approve' }),
    status: h('select', { id: 'a-status' }, ['', 'success', 'failed', 'denied'].map((s) => h('option', { value: s, text: s || 'Any' }))),
    from: h('input', { type: 'date', id: 'a-from' }), to: h('input', { type: 'date', id: 'a-to' }),
  };
  const chain = h('div', { class: 'chain', id: 'chain-result', 'aria-live': 'polite' });
  const check = h('button', { type: 'button', class: 'btn', id: 'chain-check', text: 'Check the hash chain' });
  check.addEventListener('click', async () => {
    check.disabled = true;
    clear(chain).append(loading('Recomputing the chain…'));
    try {
      const r = await request('GET', '/admin/audit/verify');
      clear(chain).append(r.ok
        ? h('p', { class: 'ok', text: `The chain is intact: ${r.rows} rows check out.` })
        : h('p', { class: 'error', text: `The chain is broken at row ${r.first_bad_id}: ${r.reason} (${r.rows} rows checked).` }));
    } catch (e) {
      clear(chain).append(failure(e, 'check the chain'));
    } finally { check.disabled = false; }
  });
  const table = pagedTable({
    id: 'audit-table',
    caption: 'Audit log',
    pageSize: 25,
    load: (query) => request('GET', `/admin/audit${qs(query)}`),
    columns: [
      { label: 'When', render: (e) => dateTime(e.created_at) },
      { label: 'Who', render: (e) => e.actor_name || e.actor_id || '—' },
      { label: 'Operation', render: (e) => h('code', { class: 'op', text: e.operation }) },
      { label: 'Target', render: (e) => (e.target_type ? `${e.target_type} ${e.target_id || ''}` : '') },
      { label: 'Status', render: (e) => pill(e.status, `${e.status} ${e.http_status || ''}`) },
      { label: 'From', render: (e) => e.ip },
    ],
  });
  const form = h('form', { class: 'filters-inline', role: 'search' },
    field('Actor', f.actor).wrap, field('Module', f.module).wrap, field('Operation', f.operation).wrap, field('Status', f.status).wrap,
    field('From', f.from).wrap, field('To', f.to).wrap, h('button', { type: 'submit', class: 'btn', id: 'a-filter', text: 'Filter' }));
  const query = () => ({
    actor: f.actor.value.trim(), module: f.module.value.trim(), operation: f.operation.value.trim(), status: f.status.value,
    from: f.from.value ? new Date(`${f.from.value}T00:00:00`).toISOString() : '', to: f.to.value ? new Date(`${f.to.value}T23:59:59`).toISOString() : '',
  });
  form.addEventListener('submit', (e) => { e.preventDefault(); table.reload(query()); });
  body.append(h('div', { class: 'actions' }, check), chain, form, table.el);
  await table.reload({});
}

// ---- card projects -----------------------------------------------------------------------------

async function projects(body) {
  const list = h('div', { id: 'projects-list' });
  async function load() {
    clear(list).append(loading());
    try {
      const r = await request('GET', '/cards/projects');
      clear(list).append(r.items.length ? h('table', { class: 'table' },
        h('thead', {}, h('tr', {}, ['Project', 'Unit price', 'API key', 'Created', ''].map((t) => h('th', { scope: 'col', text: t })))),
        h('tbody', {}, r.items.map((p) => h('tr', {},
          h('td', { 'data-label': 'Project' }, h('strong', { text: p.name }), h('br'), h('span', { class: 'muted small', text: p.id })),
          h('td', { 'data-label': 'Unit price', text: `${p.unit_price} / key / day` }),
          h('td', { 'data-label': 'API key' }, h('code', { text: p.api_key })),
          h('td', { 'data-label': 'Created', text: dateTime(p.created_at, { dateStyle: 'medium' }) }),
          h('td', {}, actionButton('Rotate secret', async () => {
            if (await ask({ title: 'Rotate the secret?', message: 'The old secret keeps working for a grace period.', buttons: [{ label: 'Cancel', value: null }, { label: 'Rotate', value: 'yes', kind: 'danger' }] }) !== 'yes') return;
            const np = await request('POST', `/cards/projects/${encodeURIComponent(p.id)}/rotate-secret`);
            showSecret(np);
          })))))) : empty('No projects yet.'));
    } catch (e) { clear(list).append(failure(e, 'load the projects')); }
  }
  const secretBox = h('div', { id: 'secret-box', 'aria-live': 'polite' });
  function showSecret(p) {
    clear(secretBox).append(h('div', { class: 'card secret', role: 'alert' },
      h('h2', { text: `Secret of ${p.name}` }),
      h('p', { text: 'Copy it now: it is shown this once and never again.' }),
      h('p', {}, h('code', { id: 'project-secret', class: 'secret-value', text: p.secret })),
      h('p', { class: 'muted small' }, 'API key: ', h('code', { text: p.api_key })),
      h('button', { type: 'button', class: 'btn btn-small', text: 'Copy', onclick: () => navigator.clipboard && navigator.clipboard.writeText(p.secret).then(() => toast('Copied.', 'success')) }),
      h('button', { type: 'button', class: 'btn btn-small btn-ghost', id: 'secret-done', text: 'I have stored it', onclick: () => clear(secretBox) })));
  }
  const name = input('pr-name', { maxlength: '100' });
  const desc = input('pr-desc');
  const price = h('input', { type: 'number', id: 'pr-price', min: '0', value: '1' });
  const cb = h('input', { type: 'url', id: 'pr-callback', placeholder: 'https://…' });
  const err = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'card', novalidate: true, id: 'project-form' }, h('h2', { text: 'New project' }),
    formRow(field('Name', name).wrap, field('Description', desc).wrap),
    formRow(field('Unit price (quota per key per day)', price).wrap, field('Activation callback URL (optional)', cb).wrap), err,
    h('button', { type: 'submit', class: 'btn btn-primary', id: 'pr-create', text: 'Create project' }));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    try {
      const p = await request('POST', '/cards/projects', { name: name.value.trim(), description: desc.value.trim(), unit_price: Number(price.value), ...(cb.value ? { callback_url: cb.value } : {}) });
      showSecret(p);
      form.reset();
      load();
    } catch (x) { err.textContent = errText(x); }
  });
  body.append(secretBox, form, list);
  await load();
}

// ---- grants ------------------------------------------------------------------------------------

async function grants(body) {
  const list = h('div', { id: 'grants-list' });
  let projs = [];
  async function load() {
    clear(list).append(loading());
    try {
      const [g, p] = await Promise.all([request('GET', '/cards/grants'), request('GET', '/cards/projects')]);
      projs = p.items;
      const pname = (id) => (projs.find((x) => x.id === id) || {}).name || id;
      clear(list).append(g.items.length ? h('table', { class: 'table' },
        h('thead', {}, h('tr', {}, ['Project', 'Agent', 'Expires'].map((t) => h('th', { scope: 'col', text: t })))),
        h('tbody', {}, g.items.map((x) => h('tr', {}, h('td', { text: pname(x.project_id) }), h('td', { text: x.agent_id }), h('td', { text: dateTime(x.expires_at) }))))) : empty('No grants yet.'));
      drawForm();
    } catch (e) { clear(list).append(failure(e, 'load the grants')); }
  }
  const formBox = h('div');
  function drawForm() {
    const proj = h('select', { id: 'gr-project' }, projs.map((p) => h('option', { value: p.id, text: p.name })));
    const agent = input('gr-agent', { placeholder: 'agent user id' });
    const until = h('input', { type: 'date', id: 'gr-until', value: new Date(Date.now() + 30 * 86400000).toISOString().slice(0, 10) });
    const err = h('p', { class: 'error', role: 'alert' });
    const form = h('form', { class: 'card', novalidate: true, id: 'grant-form' }, h('h2', { text: 'Grant a project to an agent' }),
      formRow(field('Project', proj).wrap, field('Agent', agent).wrap, field('Until', until).wrap), err,
      h('button', { type: 'submit', class: 'btn btn-primary', id: 'gr-submit', text: 'Grant' }));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      err.textContent = '';
      try {
        await request('POST', '/cards/grants', { project_id: proj.value, agent_id: agent.value.trim(), expires_at: new Date(`${until.value}T23:59:59`).toISOString() });
        toast('Granted.', 'success');
        load();
      } catch (x) { err.textContent = errText(x); }
    });
    clear(formBox).append(form);
  }
  body.append(formBox, list);
  await load();
}

// ---- quota and ledger --------------------------------------------------------------------------

async function quota(body, me) {
  const bal = h('p', { id: 'quota-balance', class: 'balance' }, loading());
  const loadBal = async () => {
    try {
      const b = await request('GET', '/quota/balance');
      clear(bal).append(h('strong', { text: `${b.available}` }), ' available', b.pending ? `, ${b.pending} pending` : '');
    } catch (e) { clear(bal).append(failure(e, 'load the balance')); }
  };
  body.append(h('h2', { text: 'My balance' }), bal);
  if (can(me, 'cards:quota')) {
    const user = input('rc-user', { placeholder: 'user id' });
    const amount = h('input', { type: 'number', id: 'rc-amount', min: '1', value: '1000' });
    const err = h('p', { class: 'error', role: 'alert' });
    const done = h('p', { class: 'ok', role: 'status', id: 'rc-done' });
    const form = h('form', { class: 'card', novalidate: true, id: 'recharge-form' }, h('h2', { text: 'Recharge a user' }),
      formRow(field('User', user).wrap, field('Amount', amount).wrap), err, done,
      h('button', { type: 'submit', class: 'btn btn-primary', id: 'rc-submit', text: 'Recharge' }));
    let key = idempotencyKey();
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      err.textContent = '';
      try {
        const t = await request('POST', '/quota/recharges', { user_id: user.value.trim(), amount: Number(amount.value) }, { headers: { 'Idempotency-Key': key } });
        key = idempotencyKey();
        done.textContent = `Recharged ${t.amount} (transfer ${t.id}, ${t.status}).`;
        loadBal();
        entries.reload();
      } catch (x) { err.textContent = errText(x); }
    });
    body.append(form);
  }
  const entries = pagedTable({
    id: 'ledger-table',
    caption: 'Ledger entries',
    load: (q) => request('GET', `/quota/entries${qs(q)}`),
    emptyText: 'No ledger entries yet.',
    columns: [
      { label: 'When', render: (e) => dateTime(e.created_at) },
      { label: 'Type', render: (e) => e.type },
      { label: 'Amount', render: (e) => h('span', { class: e.amount < 0 ? 'neg' : 'pos', text: (e.amount > 0 ? '+' : '') + e.amount }) },
      { label: 'Status', render: (e) => pill(e.status) },
      { label: 'Transfer', render: (e) => h('code', { class: 'small', text: e.transfer_id }) },
    ],
  });
  body.append(h('h2', { text: 'My ledger' }), entries.el);
  if (can(me, 'cards:projects')) {
    const res = h('div', { id: 'ledger-check', 'aria-live': 'polite' });
    body.append(actionButton('Check the ledger', async () => {
      const r = await request('GET', '/quota/ledger/check');
      clear(res).append(h('p', { class: r.ok ? 'ok' : 'error', text: r.ok ? `The ledger balances (sum ${r.sum}).` : `Problems: ${(r.problems || []).join('; ')}` }));
    }, { id: 'ledger-check-button' }), res);
  }
  await Promise.all([loadBal(), entries.reload({})]);
}

// ---- keys: batches, export, search, unbind -------------------------------------------------------

async function keys(body, me) {
  let projs = [];
  try { projs = (await request('GET', '/cards/projects')).items; } catch (e) { body.append(failure(e, 'load your projects')); }
  const pname = (id) => (projs.find((x) => x.id === id) || {}).name || id;
  const batchBox = h('div', { id: 'batch-result', 'aria-live': 'polite' });
  if (can(me, 'cards:generate')) {
    const proj = h('select', { id: 'kb-project' }, projs.map((p) => h('option', { value: p.id, text: `${p.name} (${p.unit_price}/key/day)` })));
    const count = h('input', { type: 'number', id: 'kb-count', min: '1', max: '10000', value: '10' });
    const days = h('input', { type: 'number', id: 'kb-days', min: '1', max: '3650', value: '30' });
    const cost = h('p', { class: 'muted small', id: 'kb-cost' });
    const upd = () => { const p = projs.find((x) => x.id === proj.value); cost.textContent = p ? `Costs ${Number(count.value) * Number(days.value) * p.unit_price} quota.` : ''; };
    [proj, count, days].forEach((x) => x.addEventListener('input', upd));
    upd();
    const err = h('p', { class: 'error', role: 'alert' });
    let key = idempotencyKey();
    const form = h('form', { class: 'card', novalidate: true, id: 'batch-form' }, h('h2', { text: 'Generate keys' }),
      projs.length ? null : h('p', { class: 'muted', text: 'No project is granted to you yet.' }),
      formRow(field('Project', proj).wrap, field('How many', count).wrap, field('Valid days', days).wrap), cost, err,
      h('button', { type: 'submit', class: 'btn btn-primary', id: 'kb-submit', text: 'Generate', disabled: !projs.length }));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      err.textContent = '';
      try {
        const b = await request('POST', '/cards/batches', { project_id: proj.value, count: Number(count.value), valid_days: Number(days.value) }, { headers: { 'Idempotency-Key': key } });
        key = idempotencyKey();
        const exp = (fmt) => actionButton(`Export ${fmt.toUpperCase()}`, async () => {
          const { blob, name } = await download(`/cards/batches/${encodeURIComponent(b.id)}/export?format=${fmt}`);
          const url = URL.createObjectURL(blob);
          const a = h('a', { href: url, download: name || `keys-${b.id}.${fmt}` });
          document.body.append(a);
          a.click();
          a.remove();
          setTimeout(() => URL.revokeObjectURL(url), 10000);
        }, { id: `export-${fmt}` });
        clear(batchBox).append(h('div', { class: 'card', role: 'status' },
          h('p', { id: 'batch-done', text: `Generated ${b.count} keys for ${pname(b.project_id)}, charged ${b.cost}.` }), exp('csv'), exp('xlsx')));
        table.reload(filters());
      } catch (x) { err.textContent = errText(x); }
    });
    body.append(form, batchBox);
  }
  const fp = h('select', { id: 'k-project' }, h('option', { value: '', text: 'All projects' }), projs.map((p) => h('option', { value: p.id, text: p.name })));
  const fs = h('select', { id: 'k-status' }, ['', 'unused', 'active', 'expired', 'disabled'].map((s) => h('option', { value: s, text: s || 'Any status' })));
  const fq = input('k-q', { placeholder: 'Part of a key or device' });
  const filters = () => ({ project_id: fp.value, status: fs.value, q: fq.value.trim() });
  const table = pagedTable({
    id: 'keys-table',
    caption: 'Card keys',
    pageSize: 25,
    emptyText: 'No keys match.',
    load: (q) => request('GET', `/cards/keys${qs(q)}`),
    columns: [
      { label: 'Key', render: (k) => h('code', { class: 'card-key', text: k.key }) },
      { label: 'Project', render: (k) => pname(k.project_id) },
      { label: 'Status', render: (k) => pill(k.status) },
      { label: 'Device', render: (k) => k.device_id || '—' },
      { label: 'Expires', render: (k) => (k.expires_at ? dateTime(k.expires_at) : `${k.valid_days} days from first use`) },
      { label: '', render: (k) => (k.status === 'active' && k.device_id && can(me, 'cards:generate') ? actionButton('Unbind', async () => {
        await request('POST', `/cards/keys/${encodeURIComponent(k.key)}/unbind`);
        toast('Unbound: the key can be used on another device.', 'success');
        table.reload();
      }) : null) },
    ],
  });
  const form = h('form', { class: 'filters-inline', role: 'search' }, field('Project', fp).wrap, field('Status', fs).wrap, field('Search', fq).wrap,
    h('button', { type: 'submit', class: 'btn', id: 'k-search', text: 'Search' }));
  form.addEventListener('submit', (e) => { e.preventDefault(); table.reload(filters()); });
  body.append(h('h2', { text: 'Keys' }), form, table.el);
  await table.reload({});
}

// ---- charts ------------------------------------------------------------------------------------

async function stats(body, me) {
  const days = lastDays(14);
  const box = h('div', { class: 'charts' }, loading('Loading the numbers…'));
  body.append(box);
  const figs = [];
  try {
    const s = await request('GET', '/cards/stats');
    const byStatus = {};
    for (const k of s.keys || []) byStatus[k.status] = (byStatus[k.status] || 0) + k.count;
    figs.push(totals({ id: 'chart-key-status', title: 'Card keys by status', items: ['unused', 'active', 'expired', 'disabled'].map((st) => ({ label: st, value: byStatus[st] || 0 })) }));
    const created = {};
    for (const k of s.keys || []) created[k.day] = (created[k.day] || 0) + k.count;
    figs.push(dailyBars({ id: 'chart-keys-day', title: 'Card keys created per day', days, series: [{ name: 'keys', values: created }] }));
  } catch (e) { figs.push(failure(e, 'load the card statistics')); }
  // Bookings per day, from the caller's own orders (as buyer and as streamer).
  try {
    const per = { buyer: {}, streamer: {} };
    for (const as of ['buyer', 'streamer']) {
      const r = await request('GET', `/orders?as=${as}&page_size=50`);
      for (const o of r.items || []) {
        const d = String(o.created_at).slice(0, 10);
        per[as][d] = (per[as][d] || 0) + 1;
      }
    }
    figs.push(dailyBars({ id: 'chart-bookings', title: 'My bookings per day', days, series: [{ name: 'booked by me', values: per.buyer }, { name: 'booked with me', values: per.streamer }] }));
  } catch (e) { figs.push(failure(e, 'load the bookings')); }
  // Ads the caller owns (or its sub-accounts own), when the server has the ads API.
  try {
    const ads = await request('GET', '/ads?page_size=20');
    for (const ad of (ads.items || []).filter((a) => a.status !== 'pending_payment' && a.status !== 'canceled').slice(0, 4)) figs.push(await adChart(ad));
  } catch { /* no ads API or no ads: nothing to chart */ }
  void me;
  clear(box).append(...figs);
}

// ---- giveaway draw logs ---------------------------------------------------------------------------

async function giveaways(body) {
  const mid = input('gw-meeting', { placeholder: 'meeting id or code' });
  const out = h('div', { id: 'gw-result', 'aria-live': 'polite' });
  const form = h('form', { class: 'filters-inline' }, field('Meeting', mid).wrap, h('button', { type: 'submit', class: 'btn', id: 'gw-load', text: 'Show draws' }));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(out).append(loading());
    try {
      let id = mid.value.trim();
      if (/^[A-Za-z0-9]{4,16}$/.test(id)) {
        try { id = (await request('GET', `/meetings/code/${encodeURIComponent(id.toUpperCase())}`)).id; } catch { /* maybe an id */ }
      }
      const r = await request('GET', `/meetings/${encodeURIComponent(id)}/giveaways`);
      clear(out).append(r.items.length ? h('table', { class: 'table' },
        h('thead', {}, h('tr', {}, ['Giveaway', 'Status', 'Entries', 'Winners', 'Commitment', 'Drawn'].map((t) => h('th', { scope: 'col', text: t })))),
        h('tbody', {}, r.items.map((g) => h('tr', {},
          h('td', { text: `${g.title} — ${g.prize}` }), h('td', {}, pill(g.status)), h('td', { text: String(g.entry_count) }),
          h('td', { text: (g.winners || []).map((w) => `#${w.entry_number} ${w.name}${w.replaced ? ' (replaced)' : ''}`).join(', ') || '—' }),
          h('td', {}, h('code', { class: 'small', text: `${g.commitment.slice(0, 16)}…` })),
          h('td', { text: g.drawn_at ? `${dateTime(g.drawn_at)}${g.rerolls ? `, ${g.rerolls} rerolls` : ''}` : '—' }))))) : empty('This meeting has no giveaways.'));
    } catch (x) { clear(out).append(failure(x, 'load the giveaways')); }
  });
  body.append(h('p', { class: 'muted', text: 'Each draw is verifiable: the commitment was published before the entries closed (docs/giveaways.md).' }), form, out);
}
