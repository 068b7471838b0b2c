'use strict';
// An independent xDS client against the real musterd: grpc-js with
// @grpc/grpc-js-xds (not muster's C++ code) resolves `xds:///greeter.default`
// through musterd's ADS server and calls three, then four, real gRPC
// backends of this process.
//
//   node xds_client_test.js --musterd PATH --proto-dir DIR
//
// Run by run.sh (which installs node_modules and sets NODE_PATH), itself
// run by ctest. Checks, in order:
//   (a) calls spread over the 3 registered backends (round robin: each gets
//       a fair share); a bare `xds:///greeter` takes its realm from the
//       node metadata `muster_realm`;
//   (b) a drained backend gets no call later than 1 s after SetAdminState
//       answered;
//   (c) a 4th registered backend starts receiving calls;
//   (d) musterd restarted (SIGTERM, same port and data dir): no call fails
//       meanwhile, the drained backend stays drained, and a drain made
//       after the restart takes effect.
// Exits 1 with a line starting "FAIL:" on the first failed check.

const childProcess = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const {performance} = require('perf_hooks');

const OVERALL_TIMEOUT_MS = 150 * 1000;
// A drain must stop a backend's calls this soon after SetAdminState
// answered (the brief: musterd pushes within --xds-push-delay, 100 ms).
const DRAIN_BOUND_MS = 1000;
// After a restart the client reconnects its ADS stream with backoff
// (grpc-js: 1 s, x1.6, jittered), so the drain after it gets longer.
const DRAIN_AFTER_RESTART_BOUND_MS = 10000;
// Round robin: each backend's share within this factor of an even share.
const FAIR_LOW = 0.8;
const FAIR_HIGH = 1.2;
const CALLERS = 4;

class TestFailure extends Error {}

function fail(message) {
  throw new TestFailure(message);
}

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    if (!['--musterd', '--proto-dir'].includes(flag) || i + 1 >= argv.length) {
      console.error(
          'usage: node xds_client_test.js --musterd PATH --proto-dir DIR');
      process.exit(2);
    }
    args[flag.slice(2).replace('-', '_')] = argv[i + 1];
  }
  if (!args.musterd || !args.proto_dir) {
    console.error('usage: node xds_client_test.js --musterd PATH --proto-dir DIR');
    process.exit(2);
  }
  return args;
}

const ARGS = parseArgs(process.argv.slice(2));
const now = () => performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// `what` is a string or a function making one (when the wait fails).
async function waitFor(what, predicate, timeoutMs) {
  const deadline = now() + timeoutMs;
  while (!predicate()) {
    if (now() > deadline) {
      fail(`${typeof what === 'function' ? what() : what}: ` +
           `not within ${timeoutMs} ms`);
    }
    await sleep(10);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = server.address().port;
      server.close(() => resolve(port));
    });
  });
}

// grpc-js is loaded only after GRPC_XDS_BOOTSTRAP_CONFIG is set (main()).
let grpc;
let protoLoader;

function loadProto(file, includeDirs) {
  return grpc.loadPackageDefinition(protoLoader.loadSync(file, {
    includeDirs,
    keepCase: true,
    enums: String,
    longs: String,
    defaults: true,
  }));
}

function unary(client, method, request, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    client[method](
        request, {deadline: new Date(Date.now() + timeoutMs)},
        (error, response) => error ? reject(error) : resolve(response));
  });
}

// The real musterd on 127.0.0.1, started again on the same ports and data
// dir by restart().
class Musterd {
  constructor(dir, port, httpPort) {
    this.port = port;
    this.address = `127.0.0.1:${port}`;
    this.argv = [
      '--listen', this.address, '--http-listen', `127.0.0.1:${httpPort}`,
      '--data-dir', path.join(dir, 'data'), '--log-level', 'info',
    ];
    this.logPath = path.join(dir, 'musterd.log');
    this.child = null;
  }

  start() {
    const log = fs.openSync(this.logPath, 'a');
    this.child = childProcess.spawn(
        ARGS.musterd, this.argv, {stdio: ['ignore', log, log]});
    fs.closeSync(log);
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => resolve({code, signal}));
    });
    this.child.on('error', (e) => {
      console.error(`cannot start ${ARGS.musterd}: ${e.message}`);
    });
  }

  async waitReady(registry) {
    const deadline = now() + 30000;
    for (;;) {
      if (this.child.exitCode !== null) {
        fail(`musterd exited (code ${this.child.exitCode}) during start-up`);
      }
      try {
        await unary(registry, 'Ping', {}, 1000);
        return;
      } catch (e) {
        if (now() > deadline) fail(`musterd did not answer Ping: ${e.message}`);
        await sleep(50);
      }
    }
  }

  // SIGTERM and wait for the exit; SIGKILL after 15 s.
  async stop() {
    if (this.child === null || this.child.exitCode !== null ||
        this.child.signalCode !== null) {
      return;
    }
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15000);
    const {code, signal} = await this.exited;
    clearTimeout(timer);
    if (code !== 0) fail(`musterd exited with ${code ?? signal} on SIGTERM`);
  }

  killNow() {
    if (this.child !== null && this.child.exitCode === null &&
        this.child.signalCode === null) {
      this.child.kill('SIGKILL');
    }
  }

  logTail(lines = 40) {
    try {
      return fs.readFileSync(this.logPath, 'utf8')
          .split('\n')
          .slice(-lines)
          .join('\n');
    } catch (e) {
      return `(no log: ${e.message})`;
    }
  }
}

// A grpc-js server on a free 127.0.0.1 port answering Echo.Who with its
// name; counts its calls and remembers when it got the last one.
class Backend {
  constructor(name, echoService) {
    this.name = name;
    this.calls = 0;
    this.lastCall = -Infinity;
    this.server = new grpc.Server();
    this.server.addService(echoService, {
      Who: (call, callback) => {
        this.calls++;
        this.lastCall = now();
        callback(null, {name: this.name});
      },
    });
  }

  start() {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(
          '127.0.0.1:0', grpc.ServerCredentials.createInsecure(),
          (error, port) => {
            if (error) return reject(error);
            this.port = port;
            resolve();
          });
    });
  }

  stop() {
    this.server.forceShutdown();
  }
}

// CALLERS loops of Echo.Who over one channel, until stop(); counts
// answers, failures and the names that answered.
class Load {
  constructor(client) {
    this.client = client;
    this.ok = 0;
    this.failed = 0;
    this.firstError = null;
    this.wrongAnswers = 0;
    this.running = true;
    this.loops = [];
    for (let i = 0; i < CALLERS; i++) this.loops.push(this.loop());
  }

  async loop() {
    while (this.running) {
      try {
        const reply = await unary(this.client, 'Who', {}, 5000);
        if (!reply.name) this.wrongAnswers++;
        this.ok++;
      } catch (e) {
        this.failed++;
        if (this.firstError === null) this.firstError = e.message;
        await sleep(20);
      }
    }
  }

  async stop() {
    this.running = false;
    await Promise.all(this.loops);
  }
}

function counts(backends) {
  return backends.map((b) => b.calls);
}

// Runs until the backends together got `total` more calls, then checks
// that each got its fair share of them.
async function checkFairShare(what, backends, total) {
  const before = counts(backends);
  const sum = () => backends.reduce((s, b, i) => s + b.calls - before[i], 0);
  await waitFor(() => `${what}: ${total} calls (got ${sum()})`,
                () => sum() >= total, 30000);
  const got = backends.map((b, i) => b.calls - before[i]);
  const all = got.reduce((a, b) => a + b, 0);
  const even = all / backends.length;
  const report = backends.map((b, i) => `${b.name}=${got[i]}`).join(' ');
  for (let i = 0; i < backends.length; i++) {
    if (got[i] < FAIR_LOW * even || got[i] > FAIR_HIGH * even) {
      fail(`${what}: ${backends[i].name} got ${got[i]} of ${all} calls, ` +
           `not within ${FAIR_LOW}..${FAIR_HIGH} of an even share ` +
           `(${even.toFixed(0)}): ${report}`);
    }
  }
  console.log(`ok: ${what}: ${report}`);
}

// Drains `backend` and checks that it gets no call later than `boundMs`
// after SetAdminState answered, while `others` keep getting calls.
// Returns the milliseconds to its last call.
async function checkDrain(what, registry, backend, others, boundMs) {
  await unary(registry, 'SetAdminState', {
    realm: 'default',
    service: 'greeter',
    id: backend.name,
    admin_state: 'ADMIN_STATE_DRAINING',
    reason: 'xds e2e',
  });
  const drained = now();
  // Wait out the bound, then a quiet second of calls to the others.
  await waitFor(
      () => `${what}: ${backend.name} still got a call ` +
          `${Math.round(now() - backend.lastCall)} ms ago`,
      () => now() > drained + boundMs && now() - backend.lastCall > 1000,
      boundMs + 20000);
  const othersBefore = counts(others);
  await sleep(1000);
  const lastMs = backend.lastCall - drained;
  if (lastMs > boundMs) {
    fail(`${what}: ${backend.name} got a call ${lastMs.toFixed(0)} ms after ` +
         `it was drained (bound ${boundMs} ms)`);
  }
  if (now() - backend.lastCall < 1000) {
    fail(`${what}: ${backend.name} got calls again after it was drained`);
  }
  const othersGot = others.map((b, i) => b.calls - othersBefore[i]);
  if (othersGot.some((n) => n === 0)) {
    fail(`${what}: while ${backend.name} is drained, not every other ` +
         `backend gets calls: ` +
         others.map((b, i) => `${b.name}=${othersGot[i]}`).join(' '));
  }
  console.log(`ok: ${what}: last call to ${backend.name} ` +
              `${Math.max(0, lastMs).toFixed(0)} ms after the drain answered`);
  return lastMs;
}

async function register(registry, realm, backend) {
  await unary(registry, 'Register', {
    realm,
    instance: {
      service: 'greeter',
      id: backend.name,
      address: '127.0.0.1',
      port: backend.port,
      check: {kind: 'CHECK_KIND_NONE'},
    },
  });
}

async function run(state) {
  state.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'muster-xds-node-'));
  const musterd = new Musterd(state.dir, await freePort(), await freePort());
  state.musterd = musterd;

  // The bootstrap goes in before grpc-js-xds is loaded. Its node metadata
  // names the realm of a bare `xds:///greeter`.
  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
    xds_servers: [{
      server_uri: musterd.address,
      channel_creds: [{type: 'insecure'}],
      server_features: ['xds_v3'],
    }],
    node: {
      id: `muster-xds-node-e2e-${process.pid}`,
      locality: {},
      metadata: {muster_realm: 'blue'},
    },
  });
  grpc = require('@grpc/grpc-js');
  protoLoader = require('@grpc/proto-loader');
  require('@grpc/grpc-js-xds').register();

  const muster = loadProto('muster/v1/registry.proto', [ARGS.proto_dir]).muster.v1;
  const realms = loadProto('muster/v1/realm.proto', [ARGS.proto_dir]).muster.v1;
  const echo = loadProto('echo.proto', [__dirname]).muster.e2e;

  musterd.start();
  const registry =
      new muster.Registry(musterd.address, grpc.credentials.createInsecure());
  const realmsClient =
      new realms.Realms(musterd.address, grpc.credentials.createInsecure());
  await musterd.waitReady(registry);
  console.log(`ok: musterd answers on ${musterd.address}`);

  const backends = [];
  for (const name of ['b1', 'b2', 'b3', 'b4']) {
    const b = new Backend(name, echo.Echo.service);
    await b.start();
    backends.push(b);
  }
  state.backends = backends;
  const [b1, b2, b3, b4] = backends;
  for (const b of [b1, b2, b3]) await register(registry, 'default', b);
  console.log(`ok: registered b1..b3 (ports ${
      [b1, b2, b3].map((b) => b.port).join(', ')}) as greeter.default`);

  const client = new echo.Echo(
      'xds:///greeter.default', grpc.credentials.createInsecure());
  state.clients.push(client);
  const load = new Load(client);
  state.load = load;
  await waitFor(
      () => 'the xDS client reaching all three backends ' +
          `(calls: ${load.ok} ok, ${load.failed} failed; first error: ` +
          `${load.firstError})`,
      () => [b1, b2, b3].every((b) => b.calls > 0), 30000);
  console.log('ok: xds:///greeter.default reaches b1, b2 and b3');

  // (a) Round robin.
  await checkFairShare('(a) round robin over 3', [b1, b2, b3], 600);

  // (a) A bare name takes the realm from the node metadata: greeter in
  // realm "blue" is another backend.
  await unary(realmsClient, 'CreateRealm', {name: 'blue'});
  const blue = new Backend('blue-1', echo.Echo.service);
  await blue.start();
  backends.push(blue);
  await register(registry, 'blue', blue);
  const bare = new echo.Echo('xds:///greeter', grpc.credentials.createInsecure());
  state.clients.push(bare);
  for (let i = 0; i < 5; i++) {
    let reply;
    try {
      reply = await unary(bare, 'Who', {}, 15000);
    } catch (e) {
      fail(`(a) xds:///greeter with node metadata muster_realm=blue: ${e.message}`);
    }
    if (reply.name !== 'blue-1') {
      fail(`(a) xds:///greeter with muster_realm=blue reached ${reply.name}, ` +
           'not the greeter of realm blue');
    }
  }
  bare.close();
  console.log('ok: (a) xds:///greeter resolves in the realm of muster_realm');

  // (b) Drain.
  await checkDrain('(b) drain', registry, b1, [b2, b3], DRAIN_BOUND_MS);

  // (c) A 4th instance starts receiving.
  await register(registry, 'default', b4);
  const registered = now();
  await waitFor('(c) the 4th backend receiving calls', () => b4.calls > 0, 10000);
  console.log(`ok: (c) b4 got its first call ${
      (b4.lastCall - registered).toFixed(0)} ms after Register answered`);
  const b1Calls = b1.calls;
  await checkFairShare('(c) round robin over b2, b3, b4', [b2, b3, b4], 600);
  if (b1.calls !== b1Calls) fail('(c) the drained b1 got calls again');

  // (d) Restart musterd on the same port and data dir.
  const failedBefore = load.failed;
  const okBefore = load.ok;
  await musterd.stop();
  const stopped = now();
  await sleep(500);
  const okWhileDown = load.ok - okBefore;
  musterd.start();
  await musterd.waitReady(registry);
  console.log(`ok: (d) musterd restarted (down ${
      (now() - stopped).toFixed(0)} ms, ${okWhileDown} calls answered ` +
      'while it was down)');
  if (okWhileDown === 0) fail('(d) no call was answered while musterd was down');
  await sleep(1000);
  if (load.failed !== failedBefore) {
    fail(`(d) ${load.failed - failedBefore} calls failed across the restart ` +
         `(first error: ${load.firstError})`);
  }
  const b1AtRestart = b1.calls;
  const lastMs = await checkDrain(
      '(d) drain after the restart', registry, b2, [b3, b4],
      DRAIN_AFTER_RESTART_BOUND_MS);
  if (b1.calls !== b1AtRestart) {
    fail(`(d) b1, drained before the restart, got ${
        b1.calls - b1AtRestart} calls after it`);
  }
  await load.stop();
  if (load.failed !== failedBefore) {
    fail(`(d) ${load.failed - failedBefore} calls failed after the restart ` +
         `(first error: ${load.firstError})`);
  }
  if (load.wrongAnswers > 0) fail(`${load.wrongAnswers} answers had no name`);
  console.log(`PASS: ${load.ok} calls, none failed; drain ${
      Math.max(0, lastMs).toFixed(0)} ms after the restart`);
}

async function cleanUp(state) {
  if (state.load) {
    state.load.running = false;
  }
  for (const c of state.clients) c.close();
  for (const b of state.backends) b.stop();
  if (state.musterd) {
    try {
      await state.musterd.stop();
    } catch (e) {
      state.musterd.killNow();
    }
  }
  if (state.dir) fs.rmSync(state.dir, {recursive: true, force: true});
}

async function main() {
  const state = {clients: [], backends: []};
  const timer = setTimeout(() => {
    console.error(`FAIL: the test did not finish within ${
        OVERALL_TIMEOUT_MS / 1000} s`);
    if (state.musterd) {
      console.error(`musterd log (tail):\n${state.musterd.logTail()}`);
      state.musterd.killNow();
    }
    process.exit(1);
  }, OVERALL_TIMEOUT_MS);
  let code = 0;
  try {
    await run(state);
  } catch (e) {
    code = 1;
    console.error(`FAIL: ${e instanceof TestFailure ? e.message : e.stack}`);
    if (state.musterd) {
      console.error(`musterd log (tail):\n${state.musterd.logTail()}`);
    }
  }
  await cleanUp(state);
  clearTimeout(timer);
  process.exit(code);
}

main();
