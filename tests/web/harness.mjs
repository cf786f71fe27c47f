// Helpers for the web app's browser tests: a private mosquitto (plain MQTT
// and websockets listeners on free ports), spind replaying a generated
// capture, a web server for the built app (spind itself when it has
// --web_root, else python3 -m http.server), headless Chromium driven by
// playwright-core, and an MQTT client for the test's own checks. Everything
// started is stopped again, also when a test fails or is interrupted.
//
// Environment: SPIND, SPIN_TRAFFICGEN (the binaries), SPIN_WEB_DIST (the
// built app), SPIN_WEB_NODE_MODULES (where playwright-core and mqtt are;
// default: beside SPIN_WEB_DIST, then web/node_modules), SPIN_CHROMIUM
// (default /usr/bin/chromium), SPIN_KEEP_TMP=1 keeps the work directory,
// SPIN_WEB_SERVER=python serves the app with python3 -m http.server even when
// spind could (the app must work without the HTTP API too).

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SOURCE_DIR = path.resolve(here, '..', '..');
export const SPIND = process.env.SPIND || '';
export const TRAFFICGEN = process.env.SPIN_TRAFFICGEN || '';
export const DIST = process.env.SPIN_WEB_DIST || path.join(SOURCE_DIR, 'web', 'dist');
export const CHROMIUM = process.env.SPIN_CHROMIUM || '/usr/bin/chromium';

export class TestFailure extends Error {}

export function check(cond, what) {
  if (!cond) throw new TestFailure(what);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Waits until `fn()` (sync or async) returns a truthy value, which it returns. */
export async function waitFor(fn, timeoutMs, what, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? ` (last error: ${last.message})` : '';
      throw new TestFailure(`timed out after ${(timeoutMs / 1000).toFixed(1)} s waiting for ${what}${detail}`);
    }
    await sleep(intervalMs);
  }
}

/** Prints "SKIP: reason" and exits 77 (ctest's SKIP_RETURN_CODE). */
export function skip(reason) {
  console.log(`SKIP: ${reason}`);
  process.exit(77);
}

function findModules() {
  const candidates = [process.env.SPIN_WEB_NODE_MODULES, path.join(path.dirname(DIST), 'node_modules'),
    path.join(SOURCE_DIR, 'web', 'node_modules')].filter(Boolean);
  return candidates.find((d) => fs.existsSync(path.join(d, 'playwright-core', 'package.json')));
}

function onPath(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Skips (exit 77, saying which) when something the tests need is missing;
 * returns {require} to load playwright-core and mqtt from the app's modules.
 */
export function requirements({ needSpind = true, needMosquittoPasswd = false } = {}) {
  if (!fs.existsSync(CHROMIUM)) skip(`chromium not found at ${CHROMIUM} (Debian package chromium)`);
  if (!onPath('mosquitto')) skip('mosquitto not found (Debian package mosquitto)');
  if (needMosquittoPasswd && !onPath('mosquitto_passwd')) skip('mosquitto_passwd not found (Debian package mosquitto)');
  if (!fs.existsSync(path.join(DIST, 'index.html'))) {
    skip(`the built web app is missing (${DIST}/index.html): build the spin_web target (needs node and npm)`);
  }
  const modules = findModules();
  if (!modules) skip('playwright-core is not installed: npm ci in web/ (or build spin_web)');
  if (needSpind) {
    if (!SPIND || !fs.existsSync(SPIND)) skip('SPIND does not name the spind binary');
    if (!TRAFFICGEN || !fs.existsSync(TRAFFICGEN)) skip('SPIN_TRAFFICGEN does not name spin-trafficgen');
  }
  return { require: createRequire(path.join(modules, 'noop.js')) };
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function portOpen(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

export function readCsv(file) {
  const [head, ...rows] = fs.readFileSync(file, 'utf8').trim().split('\n');
  const keys = head.split(',');
  return rows.map((r) => Object.fromEntries(r.split(',').map((v, i) => [keys[i], v])));
}

/** A child process with its output in a log file. */
class Proc {
  constructor(name, cmd, args, logfile, opts = {}) {
    this.name = name;
    this.logfile = logfile;
    this.log = fs.openSync(logfile, 'a');
    this.child = spawn(cmd, args, { stdio: ['ignore', this.log, this.log], ...opts });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    this.running = true;
    this.exited.then(() => {
      this.running = false;
    });
  }

  output() {
    try {
      return fs.readFileSync(this.logfile, 'utf8');
    } catch {
      return '';
    }
  }

  async stop(signal = 'SIGTERM', graceMs = 10000) {
    if (this.running) {
      this.child.kill(signal);
      const timer = setTimeout(() => this.running && this.child.kill('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    try {
      fs.closeSync(this.log);
    } catch {
      // already closed
    }
  }

  killNow() {
    if (this.running) this.child.kill('SIGKILL');
  }
}

export class Harness {
  constructor(name) {
    this.name = name;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `spin-web-${name}-${process.pid}-`));
    fs.chmodSync(this.dir, 0o755); // mosquitto drops to its own user when started as root
    this.procs = [];
    this.cleanups = [];
    this.results = { passed: 0, failed: 0 };
    // Interrupted or exiting without cleanup(): kill what is left and
    // remove the work directory all the same.
    const emergency = () => {
      this.procs.forEach((p) => p.killNow());
      if (!process.env.SPIN_KEEP_TMP) {
        try {
          fs.rmSync(this.dir, { recursive: true, force: true, maxRetries: 2 });
        } catch {
          // a browser still writing its profile: nothing more to do
        }
      }
    };
    process.once('exit', emergency);
    for (const sig of ['SIGINT', 'SIGTERM']) {
      process.once(sig, () => {
        emergency();
        process.exit(1);
      });
    }
  }

  file(name) {
    return path.join(this.dir, name);
  }

  start(name, cmd, args, opts) {
    const p = new Proc(name, cmd, args, this.file(`${name}.log`), opts);
    this.procs.push(p);
    return p;
  }

  /**
   * mosquitto with a plain listener and a websockets listener. With `users`
   * ({name: password}), both listeners refuse anonymous clients and accept
   * only those users (a password file made with mosquitto_passwd -b).
   */
  async broker({ users = null } = {}) {
    const port = await freePort();
    const wsPort = await freePort();
    const conf = this.file(`mosquitto-${port}.conf`);
    const auth = ['allow_anonymous true'];
    if (users) {
      const passwordFile = this.file(`mosquitto-${port}.passwd`);
      Object.entries(users).forEach(([name, password], i) => {
        const r = spawnSync('mosquitto_passwd', [...(i === 0 ? ['-c'] : []), '-b', passwordFile, name, password],
          { encoding: 'utf8' });
        check(r.status === 0, `mosquitto_passwd failed for ${name}: ${r.stderr}${r.stdout}`);
      });
      fs.chmodSync(passwordFile, 0o644); // mosquitto reads it after dropping root
      auth.splice(0, 1, 'allow_anonymous false', `password_file ${passwordFile}`);
    }
    fs.writeFileSync(conf, [
      'per_listener_settings false',
      ...auth,
      'persistence false',
      // Tests must see every message: no per-client queue limits.
      'max_queued_messages 0',
      'max_queued_bytes 0',
      `listener ${port} 127.0.0.1`,
      'protocol mqtt',
      `listener ${wsPort} 127.0.0.1`,
      'protocol websockets',
      '',
    ].join('\n'));
    const proc = this.start(`mosquitto-${port}`, 'mosquitto', ['-c', conf]);
    await waitFor(async () => {
      check(proc.running, `mosquitto exited:\n${proc.output()}`);
      return (await portOpen(port)) && (await portOpen(wsPort));
    }, 10000, `mosquitto on ports ${port} and ${wsPort}`);
    this.brokerInfo = { port, wsPort, proc, conf };
    return this.brokerInfo;
  }

  /**
   * Stops the harness' broker and starts it again with the same
   * configuration and ports (retained messages are lost: no persistence).
   */
  async restartBroker() {
    const { port, wsPort, conf } = this.brokerInfo;
    await this.brokerInfo.proc.stop();
    this.brokerRuns = (this.brokerRuns || 1) + 1;
    const proc = this.start(`mosquitto-${port}-${this.brokerRuns}`, 'mosquitto', ['-c', conf]);
    await waitFor(async () => {
      check(proc.running, `mosquitto exited:\n${proc.output()}`);
      return (await portOpen(port)) && (await portOpen(wsPort));
    }, 10000, `mosquitto again on ports ${port} and ${wsPort}`);
    this.brokerInfo.proc = proc;
    return this.brokerInfo;
  }

  /** Runs spin-trafficgen; returns {pcap, prefix, devices (rows of the devices csv)}. */
  generate(name, extra) {
    const pcap = this.file(`${name}.pcap`);
    const prefix = this.file(name);
    const r = spawnSync(TRAFFICGEN, ['--out', pcap, '--truth', prefix, ...extra], { encoding: 'utf8' });
    check(r.status === 0, `spin-trafficgen failed: ${r.stderr}`);
    return { pcap, prefix, devices: readCsv(`${prefix}.devices.csv`) };
  }

  /** Whether this spind serves files itself (the lead's --web_root option). */
  spindServesWeb() {
    if (this.spindHelp === undefined) {
      const r = spawnSync(SPIND, ['--help'], { encoding: 'utf8' });
      this.spindHelp = `${r.stdout || ''}${r.stderr || ''}`;
    }
    return /--web_root\b/.test(this.spindHelp) && /--http_port\b/.test(this.spindHelp);
  }

  /**
   * Starts spind on a capture in a loop, against the harness' broker, with a
   * private state directory and control socket. When spind can serve the app,
   * it does so (httpPort set). Returns the process.
   */
  async spind(pcap, extraArgs = []) {
    if (!this.spindArgs) {
      const args = ['--source', `pcap:${pcap}`, '--replay', 'loop', '--mqtt_host', '127.0.0.1',
        '--mqtt_port', String(this.brokerInfo.port), '--state_dir', this.file('state'),
        '--control_socket', this.file('spind.sock'), '--stat_interval', '5',
        '--command_rate', '1000', '--lan_prefixes', '192.168.1.0/24 fd00:1::/64 fe80::/10', ...extraArgs];
      if (this.spindServesWeb() && process.env.SPIN_WEB_SERVER !== 'python') {
        this.httpPort = await freePort();
        args.push('--http_port', String(this.httpPort), '--http_addresses', '127.0.0.1', '--web_root', DIST);
      } else if (/--http_port\b/.test(this.spindHelp)) {
        // An HTTP server without the app: off, so parallel runs do not
        // collide on its default port.
        args.push('--http_port', '0');
      }
      this.spindArgs = args;
    }
    this.spindRuns = (this.spindRuns || 0) + 1;
    const p = this.start(`spind-${this.spindRuns}`, SPIND, this.spindArgs);
    if (this.httpPort) {
      await waitFor(async () => {
        check(p.running, `spind exited:\n${p.output().slice(-3000)}`);
        return portOpen(this.httpPort);
      }, 20000, `spind's web server on port ${this.httpPort}`);
    }
    return p;
  }

  /** The page's base URL: spind's own server, else python3 -m http.server on DIST. */
  async webServer() {
    if (this.httpPort) return `http://127.0.0.1:${this.httpPort}/`;
    const port = await freePort();
    const p = this.start('http-server', 'python3', ['-m', 'http.server', '--bind', '127.0.0.1', '--directory', DIST, String(port)]);
    await waitFor(async () => {
      check(p.running, `python3 -m http.server exited:\n${p.output()}`);
      return portOpen(port);
    }, 10000, `the web server on port ${port}`);
    return `http://127.0.0.1:${port}/`;
  }

  /** Headless Chromium (Debian's, a fresh profile) with one page. */
  async browser(require, { width = 1280, height = 800 } = {}) {
    const { chromium } = require('playwright-core');
    const profile = fs.mkdtempSync(path.join(this.dir, 'chromium-'));
    const ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width, height },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--no-first-run'],
    });
    this.cleanups.push(() => ctx.close().catch(() => {}));
    const page = ctx.pages()[0] || (await ctx.newPage());
    this.consoleLines = [];
    page.on('console', (m) => this.consoleLines.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => this.consoleLines.push(`pageerror: ${e.message}`));
    return { ctx, page };
  }

  /**
   * An MQTT client (node's mqtt.js) on the plain listener; resolves when
   * connected. `options` go to mqtt.connect (e.g. username, password).
   */
  async mqtt(require, port = this.brokerInfo.port, options = {}) {
    const mqtt = require('mqtt');
    const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
      clientId: `spin-web-test-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
      reconnectPeriod: 500,
      ...options,
    });
    this.cleanups.push(() => new Promise((r) => client.end(true, {}, r)));
    await new Promise((resolve, reject) => {
      client.once('connect', resolve);
      client.once('error', reject);
    });
    return client;
  }

  /** JSON-RPC over MQTT, as the app does it (doc/control.md). */
  rpc(client, method, params = {}, root = 'SPIN', timeoutMs = 10000) {
    const id = `test-${process.pid}-${Math.random().toString(16).slice(2)}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        client.removeListener('message', onMsg);
        reject(new TestFailure(`no JSON-RPC answer to ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      const onMsg = (topic, payload) => {
        if (topic !== `${root}/jsonrpc/a`) return;
        let msg;
        try {
          msg = JSON.parse(payload.toString());
        } catch {
          return;
        }
        if (msg.id !== id) return;
        clearTimeout(timer);
        client.removeListener('message', onMsg);
        if (msg.error) reject(new TestFailure(`${method}: ${msg.error.message} (${msg.error.code})`));
        else resolve(msg.result);
      };
      client.on('message', onMsg);
      client.subscribe(`${root}/jsonrpc/a`, () => {
        client.publish(`${root}/jsonrpc/q`, JSON.stringify({ jsonrpc: '2.0', id, method, params }));
      });
    });
  }

  /** Runs the named test steps in order; prints PASS/FAIL lines and a summary. */
  async run(steps) {
    let failed = false;
    for (const [name, fn] of steps) {
      if (failed) {
        console.log(`SKIPPED ${name} (an earlier step failed)`);
        continue;
      }
      const t0 = Date.now();
      try {
        await fn();
        this.results.passed++;
        console.log(`PASS ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      } catch (e) {
        this.results.failed++;
        failed = true;
        console.log(`FAIL ${name}: ${e instanceof TestFailure ? e.message : e.stack || e}`);
      }
    }
    if (failed) this.dumpLogs();
    await this.cleanup();
    console.log(`${this.results.passed} passed, ${this.results.failed} failed`);
    process.exit(this.results.failed ? 1 : 0);
  }

  dumpLogs() {
    if (this.consoleLines?.length) {
      console.log('--- browser console (last 40 lines)');
      console.log(this.consoleLines.slice(-40).join('\n'));
    }
    for (const p of this.procs) {
      console.log(`--- ${p.name} log (last 1500 characters)`);
      console.log(p.output().slice(-1500));
    }
  }

  async cleanup() {
    for (const fn of this.cleanups.reverse()) {
      try {
        await fn();
      } catch {
        // keep cleaning
      }
    }
    this.cleanups = [];
    for (const p of this.procs.reverse()) await p.stop();
    this.procs = [];
    if (process.env.SPIN_KEEP_TMP) console.log(`kept ${this.dir}`);
    else fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
