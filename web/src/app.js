// The SPIN bubble app: a live picture of the home network. Reads spind's
// MQTT messages over the broker's websockets listener (doc/mqtt.md), draws
// them with vis-network, and sends the user's actions as JSON-RPC over MQTT
// (doc/control.md). Plain HTTP only for the REST API on the page's origin
// (devices, profiles, notifications, captures), which may be absent.

import { loadSettings, readParams } from './config.js';
import { byId } from './dom.js';
import { DevicesDialog, ListsDialog, LoginDialog, SettingsDialog, loadLists } from './dialogs.js';
import { Link, STATE } from './mqtt_link.js';
import { Model, nodeId } from './model.js';
import { Panels } from './panels.js';
import { Timeline } from './timeline.js';
import { GraphView } from './view.js';

const LIST_COMMANDS = { blocks: 'block', ignores: 'ignore', filters: 'ignore', allows: 'allow', alloweds: 'allow' };

function start() {
  const params = readParams();
  const settings = loadSettings();
  const model = new Model();
  const stateEl = byId('conn-state');
  const countsEl = byId('counts');
  const messageEl = byId('message');
  const debug = { restarts: 0, messages: 0, badMessages: 0, lastError: '' };

  if (typeof window.vis === 'undefined') {
    stateEl.textContent = 'error';
    messageEl.textContent = 'The graph library (vendor/vis-network.min.js) did not load.';
    messageEl.hidden = false;
    return;
  }

  const timeline = new Timeline(byId('timeline'), byId('timeline-now'));
  let panels = null;
  const view = new GraphView(byId('graph'), model, settings, {
    onSelectNode: (visId) => panels.openBubble(visId),
    onSelectEdge: (edgeId) => panels.open('edge', edgeId),
    onDeselect: () => panels.close(),
  });

  let link = null;
  const login = new LoginDialog({ onLogin: (cred) => link.connect(cred) });
  let listsTimer = 0;
  const refreshLists = (delayMs = 0) => {
    window.clearTimeout(listsTimer);
    listsTimer = window.setTimeout(() => {
      loadLists(model, link).catch((e) => {
        debug.lastError = e.message;
      });
    }, delayMs);
  };

  function serverRestart() {
    // Node ids restart with spind: drop everything, then read the retained
    // nodeInfo of the new run again (subscribing anew delivers them).
    debug.restarts++;
    model.clear();
    view.reset();
    timeline.clear();
    panels.close();
    const c = link.client;
    const topic = `${params.topicRoot}/traffic/node/+`;
    if (c) c.unsubscribe(topic, () => c.subscribe(topic, { qos: 0 }));
    refreshLists(1500);
  }

  function onMessage(topic, text) {
    debug.messages++;
    const root = params.topicRoot;
    const nodePrefix = `${root}/traffic/node/`;
    if (topic.startsWith(nodePrefix)) {
      const id = nodeId(topic.slice(nodePrefix.length));
      if (id === null) return;
      if (!text) {
        model.deleteNode(id); // emptied retained topic: deleted or merged
        return;
      }
      const msg = parse(text);
      if (msg && msg.command === 'nodeInfo') model.upsertNode(msg.result);
      return;
    }
    const msg = parse(text);
    if (!msg || typeof msg.command !== 'string') return;
    if (topic === `${root}/traffic/admin`) {
      const r = msg.result || {};
      if (msg.command === 'nodeDeleted' && nodeId(r.id) !== null) model.deleteNode(nodeId(r.id));
      if (msg.command === 'nodeMerged' && nodeId(r.id) !== null && nodeId(r['merged-to']) !== null) {
        model.mergeNode(nodeId(r.id), nodeId(r['merged-to']));
      }
      return;
    }
    if (topic !== `${root}/traffic`) return;
    switch (msg.command) {
      case 'traffic': {
        const totals = model.applyTraffic(msg.result);
        if (totals) timeline.add(totals);
        break;
      }
      case 'blocked':
        model.applyBlocked(msg.result);
        break;
      case 'dnsquery':
        model.applyDnsQuery(msg.result);
        break;
      case 'serverRestart':
        serverRestart();
        break;
      case 'error':
        debug.lastError = typeof msg.argument === 'string' ? msg.argument : 'error';
        break;
      default:
        if (msg.command in LIST_COMMANDS) model.setList(LIST_COMMANDS[msg.command], msg.result);
    }
  }

  function parse(text) {
    try {
      const v = JSON.parse(text);
      return v && typeof v === 'object' ? v : null;
    } catch {
      debug.badMessages++;
      return null;
    }
  }

  function onState(state, detail) {
    stateEl.textContent = state;
    stateEl.dataset.state = state;
    stateEl.title = detail || '';
    document.body.dataset.connection = state;
    if (state === STATE.LOGIN_NEEDED) {
      messageEl.textContent = `Login needed: ${detail || 'the broker asks for a user name and password.'}`;
      messageEl.hidden = false;
      login.show(detail);
    } else if (state === STATE.RECONNECTING || state === STATE.OFFLINE) {
      messageEl.textContent = `Not connected to the broker at ${params.url()}${detail ? `: ${detail}` : ''}. Retrying…`;
      messageEl.hidden = false;
    } else {
      messageEl.hidden = true;
    }
  }

  link = new Link(params, { onMessage, onState, onConnect: () => refreshLists(200) });
  panels = new Panels({ model, view, link });

  const findNode = (text) => {
    const q = text.trim().toLowerCase();
    if (!q) return null;
    let best = null;
    for (const n of model.nodes.values()) {
      const hay = [model.label(n), n.mac, ...n.ips, ...n.domains].map((s) => String(s).toLowerCase());
      if (hay.some((s) => s === q)) return n;
      if (!best && hay.some((s) => s.includes(q))) best = n;
    }
    return best;
  };
  const showNode = (n) => {
    if (!n) return false;
    view.reveal(n.id);
    view.select(n.id);
    panels.open('node', n.id);
    window.setTimeout(() => view.focus(n.id), 350);
    return true;
  };

  const lists = new ListsDialog({ model, link });
  const devices = new DevicesDialog({ model, link, onShowNode: (mac) => showNode(findNode(mac)) });
  const settingsDlg = new SettingsDialog({ settings, params, onApply: () => view.applySettings() });
  byId('btn-lists').addEventListener('click', () => lists.show());
  byId('btn-devices').addEventListener('click', () => devices.show());
  byId('btn-settings').addEventListener('click', () => settingsDlg.show());
  byId('btn-fit').addEventListener('click', () => view.fit());
  byId('search').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = byId('search-input');
    if (!showNode(findNode(input.value))) {
      input.setCustomValidity('No such node');
      input.reportValidity();
      window.setTimeout(() => input.setCustomValidity(''), 1500);
    }
  });

  window.setInterval(() => {
    const shown = view.nodesDs.length;
    countsEl.textContent = `${model.nodes.size} nodes · ${shown} bubbles`;
  }, 1000);

  // For tests and for curious users in the console.
  window.spinApp = {
    params, settings, model, view, link, panels, timeline, debug,
    /** The bubble drawn for model node `id` (itself or its group), with its look. */
    bubble(id) {
      const rep = view.representative(id);
      return rep === undefined ? null : { id: rep, look: view.nodesDs.get(rep) || null };
    },
    position: (visId) => view.domPosition(visId),
    showNode: (id) => showNode(model.nodes.get(id)),
  };

  link.connect();
}

start();
