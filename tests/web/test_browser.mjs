#!/usr/bin/env node
// The bubble app in real headless Chromium against a real mosquitto and
// spind replaying a generated capture (names from a DHCP lease file): the
// page connects, the devices appear as bubbles with their names and MACs,
// the timeline moves, a click on a bubble and "Block" turn its border red and
// put its addresses on spind's block list, "Unblock" reverts both, a rename
// shows and is published, the device list works (with or without the HTTP
// API), network strings are escaped, and a restarted spind (serverRestart)
// rebuilds the picture.

import fs from 'node:fs';
import process from 'node:process';

import { Harness, check, requirements, waitFor } from './harness.mjs';

const BLOCKED_BORDER = '#ff2a2a'; // web/src/view.js COLORS.blockedBorder

const { require } = requirements();
const hs = new Harness('browser');

const broker = await hs.broker();
const gen = hs.generate('home', ['--packets', '12000', '--rate', '400', '--seed', '11', '--devices', '8']);
// Every device with an IPv4 address gets its name from a dnsmasq lease file.
const named = gen.devices.filter((d) => d.ipv4 && d.hostname);
const expiry = Math.floor(Date.now() / 1000) + 86400;
fs.writeFileSync(hs.file('dhcp.leases'), named.map((d) => `${expiry} ${d.mac} ${d.ipv4} ${d.hostname} *\n`).join(''));
const spindArgs = ['--dhcp_lease_files', hs.file('dhcp.leases'), '--dhcp_config_file', ''];
let spind = await hs.spind(gen.pcap, spindArgs);
const base = await hs.webServer();

// The test's own view of the broker: every nodeInfo spind publishes.
const mq = await hs.mqtt(require);
const nodeInfos = [];
mq.on('message', (topic, payload) => {
  if (topic.startsWith('SPIN/traffic/node/') && payload.length) {
    try {
      nodeInfos.push(JSON.parse(payload.toString()).result);
    } catch {
      // not a test failure: the app must cope, the test does not care
    }
  }
});
await new Promise((r) => mq.subscribe('SPIN/traffic/node/+', r));

const { page } = await hs.browser(require);
const pid = process.pid;
let target = null; // {id, mac, hostname, ips}

const appState = () => page.evaluate(() => document.getElementById('conn-state').dataset.state);
/** The page's device nodes: mac -> {id, label, name} (label = the bubble's). */
const devicesInPage = () => page.evaluate(() => {
  const out = {};
  for (const n of spinApp.model.nodes.values()) {
    if (!n.mac) continue;
    const b = spinApp.bubble(n.id);
    out[n.mac] = { id: n.id, name: n.name, ips: n.ips, label: b && b.look ? b.look.label : null, bubble: b ? b.id : null };
  }
  return out;
});
const look = (id) => page.evaluate((i) => {
  const b = spinApp.bubble(i);
  return b && b.look ? { label: b.look.label, border: b.look.color.border, width: b.look.borderWidth } : null;
}, id);

/** Clicks the bubble of node `id` like a user until its panel opens. */
async function clickBubble(id) {
  await waitFor(async () => {
    const pos = await page.evaluate((i) => spinApp.position(i), id);
    if (!pos) return false;
    await page.mouse.click(pos.x, pos.y);
    return page.evaluate((i) => {
      const p = document.getElementById('panel');
      return !p.hidden && p.dataset.kind === 'node' && p.dataset.id === String(i);
    }, id);
  }, 20000, `a click on node ${id}'s bubble opening its panel`, 300);
}

const blockList = () => hs.rpc(mq, 'list_iplist', { list: 'block' });

await hs.run([
  ['the page connects', async () => {
    await page.goto(`${base}?mqtt_port=${broker.wsPort}`);
    await waitFor(async () => (await appState()) === 'connected', 20000, 'connection state "connected"');
  }],

  ['bubbles appear with the devices\' names and MACs', async () => {
    check(named.length >= 4, `the capture has named devices (${named.length})`);
    await waitFor(async () => {
      const devs = await devicesInPage();
      return named.every((d) => devs[d.mac] && devs[d.mac].label === d.hostname.slice(0, 28));
    }, 60000, `bubbles for ${named.map((d) => `${d.hostname} (${d.mac})`).join(', ')}`);
    const devs = await devicesInPage();
    for (const d of named) check(devs[d.mac].bubble === devs[d.mac].id, `${d.hostname} has a bubble of its own`);
    target = { ...named.find((d) => d.hostname !== 'router'), ...devs[named.find((d) => d.hostname !== 'router').mac] };
  }],

  ['the timeline moves', async () => {
    const snap = () => page.evaluate(() => {
      const c = document.getElementById('timeline');
      const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let hash = 0;
      let ink = 0;
      for (let i = 3; i < px.length; i += 4) {
        if (px[i]) ink++;
        hash = (hash * 31 + px[i] + px[i - 1]) | 0;
      }
      return { last: Number(c.dataset.last), points: Number(c.dataset.points), hash, ink };
    });
    const first = await snap();
    const later = await waitFor(async () => {
      const s = await snap();
      return s.last >= first.last + 2 && s.points >= 3 && s.hash !== first.hash ? s : null;
    }, 20000, 'the timeline to take in two more seconds and redraw');
    check(later.ink > 0, 'the timeline draws something');
  }],

  ['clicking a bubble and "Block" turns its border red and blocks its addresses', async () => {
    await clickBubble(target.id);
    const panelText = await page.textContent('#panel');
    check(panelText.includes(target.mac), `the panel shows the MAC ${target.mac}`);
    check(panelText.includes(target.hostname), `the panel shows the name ${target.hostname}`);
    const ips = await page.evaluate((i) => spinApp.model.nodes.get(i).ips, target.id);
    check(ips.length > 0, 'the device has addresses');
    await page.click('#panel .act-block');
    await waitFor(async () => (await look(target.id))?.border === BLOCKED_BORDER, 15000, 'a red border');
    await waitFor(async () => {
      const list = await blockList();
      return ips.every((ip) => list.includes(ip));
    }, 15000, `spind's block list to contain ${ips.join(', ')}`);
    await waitFor(async () => (await page.textContent('#panel .act-block')) === 'Unblock', 5000, 'the button to read "Unblock"');
    target.ips = ips;
  }],

  ['"Unblock" reverts it', async () => {
    await page.click('#panel .act-block');
    await waitFor(async () => {
      const l = await look(target.id);
      return l && l.border !== BLOCKED_BORDER;
    }, 15000, 'the red border to go');
    await waitFor(async () => {
      const list = await blockList();
      return target.ips.every((ip) => !list.includes(ip));
    }, 15000, 'the addresses to leave the block list');
  }],

  ['rename shows the new name, and spind publishes it', async () => {
    const name = `web-test-${pid}`;
    await page.fill('#rename-input', name);
    await page.click('#panel .act-rename');
    await waitFor(async () => (await look(target.id))?.label === name, 15000, `the bubble labelled "${name}"`);
    await waitFor(() => nodeInfos.some((n) => n && n.mac === target.mac && n.name === name), 10000,
      `a nodeInfo of ${target.mac} carrying the name "${name}"`);
    target.newName = name;
  }],

  ['the device list works (REST API, or JSON-RPC when there is none)', async () => {
    await page.click('#btn-devices');
    await waitFor(() => page.evaluate((macs) => macs.every((m) =>
      document.querySelector(`#devices-body tr[data-mac="${m}"]`)), named.map((d) => d.mac)),
    15000, 'a row for every named device');
    if (!hs.httpPort) {
      const status = await page.textContent('#devices-status');
      check(/not available/.test(status), `without the HTTP API the dialog says so ("${status}")`);
    }
    await page.click('#devices-dialog .dialog-foot [data-close]');
  }],

  ['strings from the network are shown as text, never run', async () => {
    const evil = '<img src=x onerror="window.__xss=1">';
    const node = { id: 999999, lastseen: Math.floor(Date.now() / 1000), ips: ['203.0.113.250'], domains: ['evil.example'], name: evil };
    await new Promise((r) => mq.publish('SPIN/traffic/node/999999', JSON.stringify({ command: 'nodeInfo', argument: '', result: node }), {}, r));
    await waitFor(() => page.evaluate(() => spinApp.model.nodes.has(999999)), 10000, 'the page to read the nodeInfo');
    await waitFor(async () => {
      await page.fill('#search-input', '203.0.113.250');
      await page.press('#search-input', 'Enter');
      return (await page.textContent('#panel-title')) === evil;
    }, 10000, 'the panel titled with the literal text', 500);
    check(await page.evaluate(() => window.__xss === undefined && !document.querySelector('#panel img')), 'no element was injected');
    await new Promise((r) => mq.publish('SPIN/traffic/node/999999', '', { retain: true }, r));
    await page.click('#panel-close');
  }],

  ['a restarted spind (serverRestart) rebuilds the picture', async () => {
    const before = await page.evaluate(() => spinApp.debug.restarts);
    await spind.stop();
    spind = await hs.spind(gen.pcap, spindArgs);
    await waitFor(async () => (await page.evaluate(() => spinApp.debug.restarts)) > before, 30000, 'serverRestart in the page');
    await waitFor(async () => {
      const devs = await devicesInPage();
      return named.every((d) => devs[d.mac] && devs[d.mac].label === (d.mac === target.mac ? target.newName : d.hostname.slice(0, 28)));
    }, 60000, 'every device back with its name (the renamed one with its new name)');
    check((await appState()) === 'connected', 'still connected');
  }],
]);
