#!/usr/bin/env node
// The bubble app's "login needed" state: a private mosquitto whose plain and
// websockets listeners refuse anonymous clients (allow_anonymous false, a
// password file made with mosquitto_passwd), spind publishing with its own
// user name and password. The page shows "login needed" and asks for
// credentials; a wrong password keeps it there and says the broker refused
// that user name and password; the right one connects and the bubbles
// appear. The credentials stay in the page's memory only: not in the page
// URL, the websocket URL, localStorage, sessionStorage or cookies, and not in
// the form afterwards. A broker restart reconnects with the remembered
// credentials without asking again; a reload asks again. Escape does not
// dismiss the login dialog (nothing would bring it back).

import process from 'node:process';

import { Harness, TestFailure, check, requirements, waitFor } from './harness.mjs';

const { require } = requirements({ needMosquittoPasswd: true });
const hs = new Harness('login');

const pid = process.pid;
const SPIND_USER = 'spind';
const SPIND_PASSWORD = `spind-secret-${pid}`;
const WEB_USER = 'viewer';
const WEB_PASSWORD = `Viewer-Pass-${pid}-x7`;
const WRONG_PASSWORD = `wrong-${pid}-q3`;

const broker = await hs.broker({ users: { [SPIND_USER]: SPIND_PASSWORD, [WEB_USER]: WEB_PASSWORD } });
const gen = hs.generate('home', ['--packets', '8000', '--rate', '400', '--seed', '5', '--devices', '5']);
const macs = gen.devices.filter((d) => d.ipv4).map((d) => d.mac);
await hs.spind(gen.pcap, ['--mqtt_username', SPIND_USER, '--mqtt_password', SPIND_PASSWORD]);
const base = await hs.webServer();

const { page } = await hs.browser(require);
// Every websocket the page opens, to check that no credentials go in a URL.
const wsUrls = [];
page.on('websocket', (ws) => wsUrls.push(ws.url()));

const appState = () => page.evaluate(() => document.getElementById('conn-state').dataset.state);
const loginOpen = () => page.evaluate(() => document.getElementById('login-dialog').open);
/** What the user sees about the login: the status line, the dialog's reason, the banner. */
const loginText = () => page.evaluate(() => ({
  state: document.getElementById('conn-state').textContent,
  reason: document.getElementById('login-reason').textContent,
  message: document.getElementById('message').hidden ? '' : document.getElementById('message').textContent,
}));
/** Every connection state the page went through since the observer was installed. */
const states = () => page.evaluate(() => window.__loginTestStates.slice());
const watchStates = () => page.evaluate(() => {
  const el = document.getElementById('conn-state');
  window.__loginTestStates = [el.dataset.state];
  new MutationObserver(() => window.__loginTestStates.push(el.dataset.state))
    .observe(el, { attributes: true, attributeFilter: ['data-state'] });
});
const nodeCount = () => page.evaluate(() => spinApp.model.nodes.size);

async function submitLogin(username, password) {
  await page.fill('#login-form input[name="username"]', username);
  await page.fill('#login-form input[name="password"]', password);
  await page.click('#login-form button[type="submit"]');
}

/** Waits until the page went through "connecting" after `from` states and is at `want`. */
async function waitForAttempt(from, want, what) {
  return waitFor(async () => {
    const s = await states();
    const after = s.slice(from);
    return after.includes('connecting') && s[s.length - 1] === want ? s : null;
  }, 20000, what);
}

await hs.run([
  ['the broker refuses anonymous clients and accepts spind\'s user', async () => {
    const mqtt = require('mqtt');
    const refused = await new Promise((resolve) => {
      const c = mqtt.connect(`mqtt://127.0.0.1:${broker.port}`, { reconnectPeriod: 0, connectTimeout: 5000 });
      const done = (v) => {
        c.end(true);
        resolve(v);
      };
      c.once('connect', () => done(null));
      c.once('error', (e) => done(e));
      c.once('close', () => done(new Error('closed')));
    });
    check(refused && (refused.code === 4 || refused.code === 5),
      `an anonymous MQTT client is refused with CONNACK 4 or 5 (got ${refused ? `${refused.code}: ${refused.message}` : 'connected'})`);
    // spind logs in and publishes: its retained nodeInfo reach a user's client.
    const mq = await hs.mqtt(require, broker.port, { username: WEB_USER, password: WEB_PASSWORD });
    let infos = 0;
    mq.on('message', (topic, payload) => {
      if (topic.startsWith('SPIN/traffic/node/') && payload.length) infos++;
    });
    await new Promise((r) => mq.subscribe('SPIN/traffic/node/+', r));
    await waitFor(() => infos > 0, 30000, 'spind (logged in as its own user) to publish nodeInfo');
  }],

  ['the page shows "login needed" and asks for credentials', async () => {
    await page.goto(`${base}?mqtt_port=${broker.wsPort}`);
    await waitFor(async () => (await appState()) === 'login needed', 20000, 'connection state "login needed"');
    await waitFor(loginOpen, 5000, 'the login dialog to open');
    await watchStates();
    const t = await loginText();
    check(t.state === 'login needed', `the status reads "login needed" (got "${t.state}")`);
    check(t.message.length > 0, 'a message says why');
    check(t.reason.length > 0, 'the dialog says why');
    console.log(`  anonymous refused: message "${t.message}" / dialog "${t.reason}"`);
    check(await page.isVisible('#login-form input[name="username"]'), 'a user name field is visible');
    check(await page.isVisible('#login-form input[name="password"]'), 'a password field is visible');
    check((await nodeCount()) === 0, 'no nodes without a connection');
    await page.keyboard.press('Escape');
    check(await loginOpen(), 'Escape does not close the login dialog (nothing would open it again)');
  }],

  ['a wrong password keeps "login needed" and says it was refused', async () => {
    const before = (await states()).length;
    await submitLogin(WEB_USER, WRONG_PASSWORD);
    await waitForAttempt(before, 'login needed', 'a new attempt ("connecting") refused again ("login needed")');
    await waitFor(loginOpen, 5000, 'the login dialog to open again');
    const t = await loginText();
    console.log(`  wrong password: message "${t.message}" / dialog "${t.reason}"`);
    const says = `${t.message} ${t.reason}`.toLowerCase();
    check(says.includes(WEB_USER), `the message names the refused user "${WEB_USER}"`);
    check(/(not accept|refused|wrong|bad user)/.test(says), 'the message says the credentials were refused');
    check(!says.includes(WRONG_PASSWORD.toLowerCase()), 'the message does not repeat the password');
    const f = await page.evaluate(() => {
      const e = document.getElementById('login-form').elements;
      return { username: e.username.value, password: e.password.value };
    });
    check(f.username === WEB_USER, `the user name stays filled in (got "${f.username}")`);
    check(f.password === '', 'the password field is emptied');
    // Refused, the app waits for the user: no retry loop behind the dialog.
    const settled = (await states()).length;
    await page.waitForTimeout(3000); // a reconnect would come within 2 s (reconnectPeriod)
    const s = await states();
    check(s.length === settled && s[s.length - 1] === 'login needed',
      `no new attempts without new credentials (states: ${s.slice(settled - 1).join(' -> ')})`);
    check((await nodeCount()) === 0, 'still no nodes');
  }],

  ['the right password connects and the bubbles appear', async () => {
    await submitLogin(WEB_USER, WEB_PASSWORD);
    await waitFor(async () => (await appState()) === 'connected', 20000, 'connection state "connected"');
    check(!(await loginOpen()), 'the login dialog is closed');
    const t = await loginText();
    check(t.message === '', `no error message is shown (got "${t.message}")`);
    check(macs.length >= 3, `the capture has devices (${macs.length})`);
    await waitFor(() => page.evaluate((want) => {
      const have = new Map();
      for (const n of spinApp.model.nodes.values()) if (n.mac) have.set(n.mac, n.id);
      return want.every((m) => have.has(m) && spinApp.bubble(have.get(m))?.look)
        && spinApp.view.nodesDs.length >= want.length;
    }, macs), 60000, `bubbles for the devices ${macs.join(', ')}`);
  }],

  ['the credentials are kept in memory only', async () => {
    const leaks = await page.evaluate((secrets) => {
      const found = [];
      const scan = (where, text) => {
        for (const s of secrets) if (String(text).includes(s)) found.push(`${where} contains "${s}"`);
      };
      scan('the page URL', window.location.href);
      scan('document.cookie', document.cookie);
      for (const [name, store] of [['localStorage', window.localStorage], ['sessionStorage', window.sessionStorage]]) {
        for (let i = 0; i < store.length; i++) {
          const k = store.key(i);
          scan(`${name}[${k}]`, `${k}=${store.getItem(k)}`);
        }
      }
      const e = document.getElementById('login-form').elements;
      scan('the password field', e.password.value);
      scan('the visible text', document.body.innerText);
      return found;
    }, [WEB_PASSWORD, WRONG_PASSWORD]);
    check(leaks.length === 0, `no password in storage, URL or page: ${leaks.join('; ')}`);
    check(!page.url().includes(WEB_USER) && !page.url().includes(WEB_PASSWORD), 'no credentials in the page URL');
    check(wsUrls.length >= 3, `the page opened websockets (${wsUrls.length})`);
    for (const u of wsUrls) {
      check(!u.includes(WEB_PASSWORD) && !u.includes(WRONG_PASSWORD) && !u.includes(`${WEB_USER}@`),
        `no credentials in the websocket URL ${u}`);
    }
  }],

  ['a broker restart reconnects with the remembered credentials', async () => {
    const before = (await states()).length;
    await hs.restartBroker();
    await waitFor(async () => {
      const s = (await states()).slice(before);
      return s.some((x) => x !== 'connected') && s[s.length - 1] === 'connected';
    }, 30000, 'the page to lose the broker and be "connected" again');
    const s = (await states()).slice(before);
    check(!s.includes('login needed'), `no login asked for (states: ${s.join(' -> ')})`);
    check(!(await loginOpen()), 'the login dialog stays closed');
  }],

  ['a reload asks again (nothing was stored)', async () => {
    await page.reload();
    await waitFor(async () => (await appState()) === 'login needed', 20000, 'connection state "login needed" after a reload');
    await waitFor(loginOpen, 5000, 'the login dialog to open');
    const f = await page.evaluate(() => document.getElementById('login-form').elements.password.value);
    check(f === '', 'the password field is empty after a reload');
  }],
]).catch((e) => {
  console.log(`FAIL: ${e instanceof TestFailure ? e.message : e.stack || e}`);
  process.exit(1);
});
