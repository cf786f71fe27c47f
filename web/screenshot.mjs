#!/usr/bin/env node
// Makes doc/screenshot.png: the bubble app on the demo capture, as a user
// sees it after about 20 s. Starts a private mosquitto (plain and websockets
// listeners), spind replaying the demo capture in a loop (device names from a
// lease file made of the capture's truth, as dnsmasq would give them), serves
// the built app (spind itself, or python3 -m http.server), opens it in
// headless Chromium, opens the panel of the busiest named device and saves
// the page. Everything started is stopped again.
//
//   node web/screenshot.mjs [--build DIR] [--out FILE] [--seconds N]
//                           [--size WxH] [--no-panel]
//
// --build: the CMake build directory (default: $SPIN_BUILD_DIR, else
// build/ beside web/), which has actors/spind, demo/demo.pcap (target
// spin_demo_capture), web/dist and web/node_modules (target spin_web).
// --out: default doc/screenshot.png in the source tree.

import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const source = path.resolve(here, '..');

function usage(msg) {
  if (msg) console.error(`screenshot.mjs: ${msg}`);
  console.error('usage: node web/screenshot.mjs [--build DIR] [--out FILE] [--seconds N] [--size WxH] [--no-panel]');
  process.exit(2);
}

const opts = {
  build: process.env.SPIN_BUILD_DIR || path.join(source, 'build'),
  out: path.join(source, 'doc', 'screenshot.png'),
  seconds: 20,
  width: 1440,
  height: 900,
  panel: true,
};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const value = () => {
    if (i + 1 >= argv.length) usage(`${a} needs a value`);
    return argv[++i];
  };
  if (a === '--build') opts.build = path.resolve(value());
  else if (a === '--out') opts.out = path.resolve(value());
  else if (a === '--seconds') opts.seconds = Number(value());
  else if (a === '--size') {
    const m = /^(\d+)x(\d+)$/.exec(value());
    if (!m) usage('--size wants WIDTHxHEIGHT, e.g. 1440x900');
    opts.width = Number(m[1]);
    opts.height = Number(m[2]);
  } else if (a === '--no-panel') opts.panel = false;
  else if (a === '-h' || a === '--help') usage();
  else usage(`unexpected argument ${a}`);
}
if (!(opts.seconds > 0 && opts.seconds <= 600)) usage('--seconds wants 1..600');

const pcap = path.join(opts.build, 'demo', 'demo.pcap');
const truth = path.join(opts.build, 'demo', 'demo.devices.csv');
for (const [file, what] of [[pcap, 'the demo capture (build the spin_demo_capture target)'],
  [truth, 'the demo capture\'s devices (build the spin_demo_capture target)']]) {
  if (!fs.existsSync(file)) usage(`${file} is missing: ${what}`);
}
// The harness reads these when it is loaded.
process.env.SPIND ||= path.join(opts.build, 'actors', 'spind');
process.env.SPIN_TRAFFICGEN ||= path.join(opts.build, 'bench', 'trafficgen', 'spin-trafficgen');
process.env.SPIN_WEB_DIST ||= path.join(opts.build, 'web', 'dist');
process.env.SPIN_WEB_NODE_MODULES ||= path.join(opts.build, 'web', 'node_modules');

const { Harness, readCsv, requirements, sleep, waitFor } = await import('../tests/web/harness.mjs');
const { require } = requirements(); // exits 77 saying what is missing
const hs = new Harness('screenshot');
let failed = false;
try {
  const broker = await hs.broker();
  const devices = readCsv(truth).filter((d) => d.ipv4 && d.hostname);
  const expiry = Math.floor(Date.now() / 1000) + 86400;
  fs.writeFileSync(hs.file('dhcp.leases'), devices.map((d) => `${expiry} ${d.mac} ${d.ipv4} ${d.hostname} *\n`).join(''));
  await hs.spind(pcap, ['--dhcp_lease_files', hs.file('dhcp.leases'), '--dhcp_config_file', '']);
  const base = await hs.webServer();
  const { page } = await hs.browser(require, { width: opts.width, height: opts.height });
  await page.goto(`${base}?mqtt_port=${broker.wsPort}`);
  await waitFor(() => page.evaluate(() => document.getElementById('conn-state').dataset.state === 'connected'),
    20000, 'the page to connect to the broker');
  console.log(`screenshot.mjs: connected; letting the demo run for ${opts.seconds} s`);
  await sleep(opts.seconds * 1000);
  if (opts.panel) {
    // The busiest named device other than the router, shown as if clicked.
    const id = await page.evaluate(() => {
      let best = null;
      for (const n of spinApp.model.nodes.values()) {
        if (n.mac && n.name && n.name !== 'router' && (!best || n.bytes > best.bytes)) best = n;
      }
      if (!best) return null;
      spinApp.view.select(best.id);
      spinApp.panels.open('node', best.id);
      spinApp.view.network.selectNodes([best.id], false);
      return best.id;
    });
    if (id !== null) await sleep(1500); // the panel and the refit settle
  }
  const stats = await page.evaluate(() => ({ nodes: spinApp.model.nodes.size, bubbles: spinApp.view.nodesDs.length }));
  fs.mkdirSync(path.dirname(opts.out), { recursive: true });
  await page.screenshot({ path: opts.out });
  console.log(`screenshot.mjs: wrote ${opts.out} (${opts.width}x${opts.height}; ${stats.nodes} nodes, ${stats.bubbles} bubbles)`);
} catch (e) {
  failed = true;
  console.error(`screenshot.mjs: ${e.message || e}`);
  hs.dumpLogs();
} finally {
  await hs.cleanup();
}
process.exit(failed ? 1 : 0);
