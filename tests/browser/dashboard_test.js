// The dashboard (/ui/) in headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core) against a real musterd started here on free
// 127.0.0.1 ports; musterctl makes the gRPC side (register, heartbeat,
// drain, watch, status, list, explain, history).
//
//   node dashboard_test.js --musterd PATH --musterctl PATH --screenshots DIR
//       [--chromium PATH] [--only SUBSTRING]
//
// Every case prints PASS or FAIL with its duration; the exit status is 1
// when one failed. A screenshot of each page is saved into DIR.
'use strict';

const { chromium } = require('playwright-core');
const { spawn, execFile } = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const assert = require('assert/strict');

function arg(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) {
    if (fallback !== undefined) return fallback;
    throw new Error(`missing --${name}`);
  }
  return process.argv[at + 1];
}
const MUSTERD = arg('musterd');
const MUSTERCTL = arg('musterctl');
const SHOTS = arg('screenshots');
const CHROMIUM = arg('chromium', '/usr/bin/chromium');
const ONLY = arg('only', '');
fs.mkdirSync(SHOTS, { recursive: true });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Polls `probe` (async, returns a truthy value when done) until it
// succeeds or `timeoutMs` passes; the last error names what never came.
async function eventually(what, probe, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) { last = err; }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}` + (last ? `: ${last.message}` : ''));
    }
    await sleep(50);
  }
}

// ------------------------------------------------------------- musterd
class Musterd {
  constructor(extra = []) { this.extra = extra; }

  async start() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'muster-browser-'));
    this.grpc = await freePort();
    this.http = await freePort();
    return this.launch();
  }

  // Stops the process and starts it again on the same ports and data.
  async restart() {
    this.proc.kill('SIGTERM');
    await this.exited;
    return this.launch();
  }

  async launch() {
    this.tokenFile = path.join(this.dir, 'bootstrap-token');
    const args = ['--listen', `127.0.0.1:${this.grpc}`, '--http-listen', `127.0.0.1:${this.http}`,
      '--data-dir', path.join(this.dir, 'data'), '--auto-create-realms',
      '--bootstrap-token-file', this.tokenFile, ...this.extra];
    this.log = '';
    this.proc = spawn(MUSTERD, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout.on('data', (d) => { this.log += d; });
    this.proc.stderr.on('data', (d) => { this.log += d; });
    this.exited = new Promise((r) => this.proc.on('exit', r));
    await eventually(`musterd to answer /healthz on ${this.http}`, async () => {
      if (this.proc.exitCode !== null) throw new Error(`musterd exited ${this.proc.exitCode}: ${this.log}`);
      const res = await fetch(`${this.base}/healthz`);
      return res.ok;
    }, 20000);
    if (this.extra.includes('--auth')) {
      await eventually('the bootstrap token file', async () => fs.existsSync(this.tokenFile) &&
          fs.readFileSync(this.tokenFile, 'utf8').trim());
      this.token = fs.readFileSync(this.tokenFile, 'utf8').trim();
    }
    return this;
  }

  get base() { return `http://127.0.0.1:${this.http}`; }

  // musterctl with this daemon's address (and token); resolves to stdout
  // and `returned`, the time its result line was printed (the gRPC call
  // had returned by then).
  ctl(...args) {
    const full = ['--addr', `127.0.0.1:${this.grpc}`, ...(this.token ? ['--token', this.token] : []), ...args];
    return new Promise((resolve, reject) => {
      const proc = spawn(MUSTERCTL, full, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      let returned = 0;
      proc.stdout.on('data', (d) => { if (!returned) returned = Date.now(); out += d; });
      proc.stderr.on('data', (d) => { err += d; });
      proc.on('exit', (code) => {
        if (code !== 0) reject(new Error(`musterctl ${args.join(' ')} exited ${code}: ${err}`));
        else resolve({ out, returned: returned || Date.now() });
      });
    });
  }
  async json(...args) { return JSON.parse((await this.ctl('-o', 'json', ...args)).out); }

  // `musterctl watch` in the background: its lines as they come.
  watch(...args) {
    const full = ['--addr', `127.0.0.1:${this.grpc}`, ...(this.token ? ['--token', this.token] : []), 'watch', ...args];
    const proc = spawn(MUSTERCTL, full, { stdio: ['ignore', 'pipe', 'pipe'] });
    const w = { proc, out: '', err: '' };
    proc.stdout.on('data', (d) => { w.out += d; });
    proc.stderr.on('data', (d) => { w.err += d; });
    return w;
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null) {
      this.proc.kill('SIGTERM');
      await Promise.race([this.exited, sleep(10000)]);
      if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

// The fleet most cases look at (realm "default"):
//   web-1 eu-1 canary,v2  PASSING  (no check)
//   web-2 eu-2 v2         PASSING
//   web-3 eu-1 canary     PASSING, drained by the setup
//   web-4 eu-2            TTL check (1h), no heartbeat yet: STARTING
//   web-5 eu-3 v2         TTL check (1h), never a heartbeat: STARTING
//   web-6 eu-1            TTL check (1s) that expires: CRITICAL
//   batch/b-1             TTL check (1h)
async function registerFleet(d) {
  await d.ctl('register', 'web', '--id', 'web-1', '--address', '127.0.0.1', '--port', '8081',
              '--zone', 'eu-1', '--tag', 'canary', '--tag', 'v2', '--instance-version', '2.0.1');
  await d.ctl('register', 'web', '--id', 'web-2', '--address', '127.0.0.1', '--port', '8082',
              '--zone', 'eu-2', '--tag', 'v2', '--instance-version', '2.0.1');
  await d.ctl('register', 'web', '--id', 'web-3', '--address', '127.0.0.1', '--port', '8083',
              '--zone', 'eu-1', '--tag', 'canary', '--instance-version', '1.9.0');
  await d.ctl('register', 'web', '--id', 'web-4', '--address', '127.0.0.1', '--port', '8084',
              '--zone', 'eu-2', '--check-ttl', '1h', '--instance-version', '1.9.0');
  await d.ctl('register', 'web', '--id', 'web-5', '--address', '127.0.0.1', '--port', '8085',
              '--zone', 'eu-3', '--tag', 'v2', '--check-ttl', '1h', '--instance-version', '2.1.0');
  await d.ctl('register', 'web', '--id', 'web-6', '--address', '127.0.0.1', '--port', '8086',
              '--zone', 'eu-1', '--check-ttl', '1s', '--instance-version', '2.1.0');
  await d.ctl('register', 'batch', '--id', 'b-1', '--address', '127.0.0.1', '--port', '9001',
              '--check-ttl', '1h');
  await d.ctl('drain', 'web', 'web-3', '--reason', 'setup drain');
  await eventually('web-6 CRITICAL (its TTL expired)', async () =>
    (await d.json('get', 'web', 'web-6')).health === 'HEALTH_CRITICAL');
}

const HEALTH_SHORT = (h) => (h || '').replace(/^HEALTH_/, '');

async function newPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1366, height: 800 } });
  const page = await context.newPage();
  page.on('pageerror', (err) => console.log(`  page error: ${err.message}`));
  return page;
}
async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}
// The texts of the service page's rows, in order: [{id, health, ...}].
async function rows(page) {
  return page.$$eval('[data-testid=instance-row]', (trs) => trs.map((tr) => ({
    id: tr.dataset.id,
    health: tr.querySelector('[data-col=health]').textContent.trim(),
    admin: tr.querySelector('[data-col=admin]').textContent.trim(),
    zone: tr.querySelector('[data-col=zone]').textContent.trim(),
    tags: tr.querySelector('[data-col=tags]').textContent.trim(),
  })));
}

// ---------------------------------------------------------------- cases
const cases = [];
const test = (name, fn) => cases.push({ name, fn });

test('the overview counts match the registry', async ({ d, browser }) => {
  const page = await newPage(browser);
  await page.goto(`${d.base}/ui/`);
  const card = page.locator('[data-testid=realm-card][data-realm=default]');
  const status = await d.json('status');
  const summary = status.realms.realms.find((r) => r.realm.name === 'default');
  const list = await d.json('list');
  const critical = list.instances.filter((i) => i.health === 'HEALTH_CRITICAL').length;
  const draining = list.instances.filter((i) => i.adminState === 'ADMIN_STATE_DRAINING').length;
  const want = {
    instances: String(summary.instanceCount), routable: String(summary.routableCount),
    services: String(summary.serviceCount), critical: String(critical), draining: String(draining),
  };
  assert.equal(want.instances, '7');
  assert.equal(want.routable, '2');  // web-1 and web-2; web-3 drained, the rest starting or critical
  assert.equal(want.critical, '1');  // web-6
  await eventually('the overview card to show the registry counts', async () => {
    const got = {};
    for (const k of Object.keys(want)) got[k] = (await card.locator(`[data-stat=${k}]`).textContent()).trim();
    assert.deepEqual(got, want);
    return true;
  });
  assert.match(await page.locator('#server').textContent(), new RegExp(`revision \\d+ · 1 realms · 7 instances`));
  await shot(page, 'overview');
  // The realm page: routable/total per service.
  await card.locator('h2 a').click();
  await page.waitForSelector('[data-service=web]');
  assert.equal((await page.locator('[data-service=web] [data-stat=routable-total]').textContent()).trim(), '2 / 6');
  assert.equal((await page.locator('[data-service=batch] [data-stat=routable-total]').textContent()).trim(), '0 / 1');
  await shot(page, 'realm');
  await page.context().close();
});

test('a health change and a drain made through gRPC appear within a second', async ({ d, browser }) => {
  const page = await newPage(browser);
  await page.goto(`${d.base}/ui/#/realm/default/service/web`);
  const cell = (id, col) => page.locator(`[data-testid=instance-row][data-id=${id}] [data-col=${col}]`);
  await eventually('web-4 STARTING on the page', async () => (await cell('web-4', 'health').textContent()).trim() === 'STARTING');
  await page.waitForFunction(() => document.querySelector('#live').classList.contains('ok'));

  // Health: the first heartbeat makes the TTL-checked web-4 PASSING.
  const beat = await d.ctl('heartbeat', 'web', 'web-4');
  await page.waitForFunction(() => {
    const td = document.querySelector('[data-testid=instance-row][data-id="web-4"] [data-col=health]');
    return td && td.textContent.trim() === 'PASSING';
  }, null, { timeout: 5000, polling: 'raf' });
  const healthMs = Date.now() - beat.returned;
  console.log(`  heartbeat -> PASSING on the page after ${healthMs} ms`);
  assert.ok(healthMs < 1000, `health change took ${healthMs} ms to show`);

  // Admin state: a drain through gRPC.
  const drain = await d.ctl('drain', 'web', 'web-2', '--reason', 'grpc drain');
  await page.waitForFunction(() => {
    const td = document.querySelector('[data-testid=instance-row][data-id="web-2"] [data-col=admin]');
    return td && td.textContent.trim() === 'DRAINING';
  }, null, { timeout: 5000, polling: 'raf' });
  const drainMs = Date.now() - drain.returned;
  console.log(`  drain -> DRAINING on the page after ${drainMs} ms`);
  assert.ok(drainMs < 1000, `drain took ${drainMs} ms to show`);
  await shot(page, 'service-live');

  // Back as it was, and the page follows again.
  await d.ctl('enable', 'web', 'web-2');
  await eventually('web-2 ENABLED again', async () => (await cell('web-2', 'admin').textContent()).trim() === 'ENABLED');
  await page.context().close();
});

test('a drain from the page is seen by a gRPC watcher', async ({ d, browser }) => {
  const watcher = d.watch('web');
  try {
    await eventually('the watch snapshot', async () => /snapshot complete/.test(watcher.err + watcher.out));
    const page = await newPage(browser);
    await page.goto(`${d.base}/ui/#/realm/default/service/web/instance/web-1`);
    await page.waitForSelector('[data-testid=verdict]');
    await page.locator('#reason').fill('from the dashboard');
    await page.locator('#drain').click();
    await eventually('the page to confirm DRAINING', async () =>
      /DRAINING/.test(await page.locator('[data-testid=admin-result]').textContent()));
    const line = await eventually('musterctl watch to print the drain', async () =>
      watcher.out.split('\n').find((l) => /ADMIN_CHANGED\s+web\/web-1\s+\S+\s+DRAINING/.test(l)));
    assert.match(line, /from the dashboard/);
    const got = await d.json('get', 'web', 'web-1');
    assert.equal(got.adminState, 'ADMIN_STATE_DRAINING');
    assert.equal(got.adminReason, 'from the dashboard');
    // The page's own watch shows it too (the details and the verdict).
    await eventually('the verdict to say drained', async () =>
      /NOT routable/.test(await page.locator('[data-testid=verdict]').textContent()));
    await shot(page, 'instance-drained');

    // Enable from the page, seen by the watcher too.
    await page.locator('#reason').fill('done');
    await page.locator('#enable').click();
    await eventually('musterctl watch to print the enable', async () =>
      watcher.out.split('\n').some((l) => /ADMIN_CHANGED\s+web\/web-1\s+\S+\s+ENABLED/.test(l)));
    await page.context().close();
  } finally {
    watcher.proc.kill('SIGTERM');
  }
});

test('the filters by tag, zone and health and the sorting work', async ({ d, browser }) => {
  const page = await newPage(browser);
  await page.goto(`${d.base}/ui/#/realm/default/service/web`);
  await eventually('six rows', async () => (await rows(page)).length === 6);
  const ids = async () => (await rows(page)).map((r) => r.id);
  const registry = async (...flags) => (await d.json('list', 'web', ...flags)).instances.map((i) => i.id).sort();

  // Sorted by ID ascending at first; the header button reverses it.
  assert.deepEqual(await ids(), ['web-1', 'web-2', 'web-3', 'web-4', 'web-5', 'web-6']);
  await page.locator('button[data-sort=id]').click();
  assert.deepEqual(await ids(), ['web-6', 'web-5', 'web-4', 'web-3', 'web-2', 'web-1']);
  assert.equal(await page.locator('th:has(button[data-sort=id])').getAttribute('aria-sort'), 'descending');
  // By zone (keyboard: focus the header button, press Enter), ties by ID.
  await page.locator('button[data-sort=zone]').focus();
  await page.keyboard.press('Enter');
  assert.deepEqual((await rows(page)).map((r) => r.zone), ['eu-1', 'eu-1', 'eu-1', 'eu-2', 'eu-2', 'eu-3']);
  await page.locator('button[data-sort=id]').click();

  // Tag.
  await page.selectOption('#f-tag', 'canary');
  assert.deepEqual((await ids()).sort(), await registry('--tag', 'canary'));
  assert.deepEqual((await ids()).sort(), ['web-1', 'web-3']);
  // Tag and zone.
  await page.selectOption('#f-zone', 'eu-1');
  assert.deepEqual((await ids()).sort(), await registry('--tag', 'canary', '--zone', 'eu-1'));
  await page.selectOption('#f-tag', '');
  await page.selectOption('#f-zone', 'eu-2');
  assert.deepEqual((await ids()).sort(), await registry('--zone', 'eu-2'));
  await page.selectOption('#f-zone', '');
  // Health.
  const list = (await d.json('list', 'web')).instances;
  for (const h of ['PASSING', 'STARTING', 'CRITICAL']) {
    await page.selectOption('#f-health', h);
    const want = list.filter((i) => HEALTH_SHORT(i.health) === h).map((i) => i.id).sort();
    assert.ok(want.length > 0, `no ${h} instance to filter`);
    assert.deepEqual((await ids()).sort(), want);
    for (const r of await rows(page)) assert.equal(r.health, h);
  }
  await page.selectOption('#f-health', 'WARNING');
  assert.deepEqual(await ids(), []);
  assert.match(await page.locator('[data-testid=shown-count]').textContent(), /^0 of 6/);
  await page.selectOption('#f-health', 'PASSING');
  await shot(page, 'service-filtered');
  await page.locator('#filters button[type=reset]').click();
  await eventually('all six rows again', async () => (await rows(page)).length === 6);
  await shot(page, 'service');
  await page.context().close();
});

test('the instance page shows the explanation and the timeline', async ({ d, browser }) => {
  const page = await newPage(browser);
  await page.goto(`${d.base}/ui/#/realm/default/service/web/instance/web-3`);
  await page.waitForSelector('[data-testid=verdict]');
  // The verdict is the one `musterctl explain` prints first.
  const explain = (await d.ctl('explain', 'web', 'web-3')).out.split('\n')[0].trim();
  assert.equal((await page.locator('[data-testid=verdict]').textContent()).trim(), explain);
  const findings = await page.locator('[data-testid=explanation] dt').allTextContents();
  assert.ok(findings.includes('Admin state') && findings.includes('Health'), `findings: ${findings}`);
  // The timeline: one item per retained event of the instance, newest first.
  const history = await d.json('history', 'web', 'web-3');
  const events = history.events || history;
  const causes = events.map((e) => e.cause.replace(/^CAUSE_/, '')).reverse();
  await eventually('the timeline to list the history', async () => {
    const got = await page.locator('[data-testid=timeline-item]').evaluateAll((li) => li.map((x) => x.dataset.cause));
    assert.deepEqual(got, causes);
    return true;
  });
  assert.deepEqual(causes.slice(-1), ['REGISTERED']);
  assert.ok(causes.includes('ADMIN_CHANGED'));
  assert.match(await page.locator('[data-testid=timeline]').textContent(), /setup drain/);
  await shot(page, 'instance');

  // A health change made now joins the timeline live: web-4's heartbeat.
  await page.goto(`${d.base}/ui/#/realm/default/service/batch/instance/b-1`);
  await page.waitForSelector('[data-testid=timeline-item]');
  const before = await page.locator('[data-testid=timeline-item]').count();
  await d.ctl('heartbeat', 'batch', 'b-1');
  await eventually('a HEALTH_CHANGED item on the timeline', async () =>
    (await page.locator('[data-testid=timeline-item]').count()) === before + 1 &&
    (await page.locator('[data-testid=timeline-item]').first().getAttribute('data-cause')) === 'HEALTH_CHANGED');
  await shot(page, 'instance-timeline');
  await page.context().close();
});

test('after a musterd restart the page resumes its stream with Last-Event-ID', async ({ browser }) => {
  const d = await new Musterd().start();
  try {
    await d.ctl('register', 'api', '--id', 'r-1', '--address', '127.0.0.1', '--port', '7001');
    const page = await newPage(browser);
    const watchRequests = [];
    page.on('request', (req) => {
      if (req.url().includes('/watch')) watchRequests.push(req.headers()['last-event-id'] || '');
    });
    await page.goto(`${d.base}/ui/#/realm/default/service/api`);
    await eventually('r-1 on the page', async () => (await rows(page)).some((r) => r.id === 'r-1'));
    await page.waitForFunction(() => document.querySelector('#live').textContent === 'live');
    const before = (await d.json('status')).server.revision;
    assert.deepEqual(watchRequests, ['']);

    await d.restart();
    // The page notices, reconnects on its own (no reload) and resumes from
    // the last revision it saw.
    await eventually('a second watch request', async () => watchRequests.length >= 2, 15000);
    assert.equal(watchRequests[1], String(before));
    await page.waitForFunction(() => document.querySelector('#live').textContent === 'live', null, { timeout: 15000 });
    const drain = await d.ctl('drain', 'api', 'r-1', '--reason', 'after restart');
    await page.waitForFunction(() => {
      const td = document.querySelector('[data-testid=instance-row][data-id="r-1"] [data-col=admin]');
      return td && td.textContent.trim() === 'DRAINING';
    }, null, { timeout: 5000, polling: 'raf' });
    const ms = Date.now() - drain.returned;
    console.log(`  drain after the restart -> DRAINING on the page after ${ms} ms`);
    assert.ok(ms < 1000, `drain after the restart took ${ms} ms to show`);
    await page.context().close();
  } finally {
    await d.stop();
  }
});

test('eviction protection shows in force while more than the share of a realm is critical', async ({ d, browser }) => {
  await d.ctl('realm', 'create', 'edge');
  for (const id of ['e-1', 'e-2', 'e-3']) {
    await d.ctl('--realm', 'edge', 'register', 'edge', '--id', id, '--address', '127.0.0.1',
                '--port', '8300', '--check-ttl', '3s');
  }
  const page = await newPage(browser);
  await page.goto(`${d.base}/ui/`);
  const card = page.locator('[data-testid=realm-card][data-realm=edge]');
  const protection = async () => (await card.locator('[data-stat=protection]').textContent()).trim();
  // No heartbeat: all three turn critical when their TTL runs out.
  await eventually('the three edge instances CRITICAL', async () => {
    const list = await d.json('--realm', 'edge', 'list');
    return list.instances.length === 3 && list.instances.every((i) => i.health === 'HEALTH_CRITICAL');
  }, 20000);
  await eventually('the edge card to say in force', async () => (await protection()) === 'in force');
  await shot(page, 'overview-protection');
  // Two come back: one of three critical is under the 50% share.
  for (const id of ['e-1', 'e-2']) await d.ctl('--realm', 'edge', 'heartbeat', 'edge', id);
  await eventually('the edge card to say not in force', async () => (await protection()) === 'not in force');
  await page.context().close();
});

async function authCase(browser) {
  const d = await new Musterd(['--auth']).start();
  try {
    await d.ctl('register', 'web', '--id', 'a-1', '--address', '127.0.0.1', '--port', '8081');
    await d.ctl('realm', 'create', 'secret');
    await d.ctl('--realm', 'secret', 'register', 'vault', '--id', 'v-1', '--address', '127.0.0.1', '--port', '8200');
    // The API refuses a call without a token.
    const bare = await fetch(`${d.base}/v1/realms`);
    assert.equal(bare.status, 401);
    // A read token for realm "default" only.
    const created = await d.json('token', 'create', 'dash', '--role', 'read', '--realm', 'default');
    const secret = created.secret || created.token || created.tokenSecret;
    assert.ok(secret, `no secret in ${JSON.stringify(created)}`);

    const page = await newPage(browser);
    await page.goto(`${d.base}/ui/`);
    const dialog = page.locator('#token-dialog');
    await eventually('the token dialog', async () => dialog.isVisible());
    await shot(page, 'auth-token-prompt');
    await page.locator('#token-input').fill(secret);
    await page.locator('#token-submit').click();
    // It works with the token: realm "default" with its one instance;
    // "secret" is not shown, or shown as not permitted.
    const card = page.locator('[data-testid=realm-card][data-realm=default]');
    // Counted from its live watch (critical and draining come from no
    // other source), which runs with the token.
    await eventually('the default realm with its instance, from the watch', async () =>
      (await card.locator('[data-stat=instances]').textContent()).trim() === '1' &&
      (await card.locator('[data-stat=critical]').textContent()).trim() === '0' &&
      (await page.locator('#live').textContent()).trim() === 'live');
    const secretCard = page.locator('[data-testid=realm-card][data-realm=secret]');
    if (await secretCard.count()) {
      await eventually('realm "secret" marked not permitted', async () =>
        /Not permitted|PERMISSION_DENIED/.test(await secretCard.textContent()));
      assert.doesNotMatch(await secretCard.textContent(), /vault|v-1/);
    }
    assert.equal(await page.evaluate(() => sessionStorage.getItem('muster.token')), secret);
    await shot(page, 'auth-overview');
    await page.goto(`${d.base}/ui/#/realm/default/service/web`);
    await eventually('the row of a-1', async () => (await rows(page)).some((r) => r.id === 'a-1'));
    // A read token cannot drain: the page says so, and nothing changed.
    await page.goto(`${d.base}/ui/#/realm/default/service/web/instance/a-1`);
    await page.waitForSelector('[data-testid=verdict]');
    await page.locator('#drain').click();
    await eventually('the refusal', async () =>
      /Not permitted/.test(await page.locator('[data-testid=admin-result]').textContent()));
    assert.equal((await d.json('get', 'web', 'a-1')).adminState, 'ADMIN_STATE_ENABLED');
    await shot(page, 'auth-read-only-drain');
    await page.context().close();
  } finally {
    await d.stop();
  }
}
test('with --auth the page asks for a token, then shows what it may', async ({ browser }) => authCase(browser));

// ----------------------------------------------------------------- main
(async () => {
  const started = Date.now();
  const browser = await chromium.launch({
    executablePath: CHROMIUM, headless: true,
    // --no-sandbox: the test may run as root in a container, where
    // Chromium's sandbox cannot start.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const d = await new Musterd().start();
  let failed = 0;
  try {
    await registerFleet(d);
    for (const c of cases) {
      if (ONLY && !c.name.includes(ONLY)) continue;
      const t0 = Date.now();
      try {
        await Promise.race([c.fn({ d, browser }), sleep(60000).then(() => { throw new Error('case timed out after 60 s'); })]);
        console.log(`PASS ${c.name} (${Date.now() - t0} ms)`);
      } catch (err) {
        failed++;
        console.log(`FAIL ${c.name} (${Date.now() - t0} ms)\n  ${err.stack || err}`);
      }
    }
  } finally {
    await d.stop();
    await browser.close();
  }
  console.log(`${failed ? 'FAILED' : 'OK'}: ${failed} of ${cases.length} failed in ${Date.now() - started} ms; screenshots in ${SHOTS}`);
  if (failed) console.log(`musterd log tail:\n${d.log.split('\n').slice(-20).join('\n')}`);
  process.exit(failed ? 1 : 0);
})().catch((err) => { console.error(err); process.exit(1); });
