// The dialogs: the block / allow / ignore lists and the blocked node pairs,
// the devices with their profiles and the notifications, the settings, and
// the broker login.

import { api, unavailable } from './api.js';
import { byId, h, replace } from './dom.js';
import { formatTime } from './format.js';
import { DEFAULT_SETTINGS, sanitize, saveSettings } from './config.js';

const LIST_TITLES = { block: 'Blocked', allow: 'Allowed', ignore: 'Ignored' };

function openDialog(dlg) {
  if (!dlg.open) dlg.showModal();
}

/** Wires a dialog's close button(s) ([data-close]). */
function closers(dlg) {
  for (const b of dlg.querySelectorAll('[data-close]')) b.addEventListener('click', () => dlg.close());
}

export class ListsDialog {
  constructor({ model, link }) {
    this.model = model;
    this.link = link;
    this.dlg = byId('lists-dialog');
    this.body = byId('lists-body');
    this.status = byId('lists-status');
    closers(this.dlg);
    byId('lists-refresh').addEventListener('click', () => this.load());
    model.on((what) => {
      if ((what === 'lists' || what === 'clear') && this.dlg.open) this.render();
    });
  }

  show() {
    openDialog(this.dlg);
    this.render();
    this.load();
  }

  say(text, error = false) {
    this.status.textContent = text;
    this.status.classList.toggle('error', error);
  }

  async load() {
    this.say('Loading…');
    try {
      await loadLists(this.model, this.link);
      this.say('');
    } catch (e) {
      this.say(e.message, true);
    }
  }

  async act(button, fn) {
    button.disabled = true;
    this.say('Working…');
    try {
      await fn();
      await loadLists(this.model, this.link);
      this.say('Done.');
    } catch (e) {
      this.say(e.message, true);
      button.disabled = false;
    }
  }

  render() {
    const m = this.model;
    const sections = Object.keys(LIST_TITLES).map((list) => {
      const ips = [...m.lists[list]].sort();
      const rows = ips.map((ip) => {
        const n = m.nodeByIp(ip);
        const b = h('button', { type: 'button', class: 'small' }, 'Remove');
        b.addEventListener('click', () => this.act(b, () => this.link.rpc('remove_iplist_ip', { list, ip })));
        return h('li', { dataset: { ip } }, h('code', null, ip), n ? h('span', { class: 'muted' }, ` ${m.label(n)}`) : null, ' ', b);
      });
      const extra = [];
      if (list === 'ignore') {
        const reset = h('button', { type: 'button', class: 'small' }, "Reset to the router's addresses");
        reset.addEventListener('click', () => this.act(reset, () => this.link.rpc('reset_iplist_ignore', {})));
        extra.push(reset);
      }
      return h('section', { class: 'list', dataset: { list } },
        h('h3', null, `${LIST_TITLES[list]} (${ips.length})`), extra,
        rows.length ? h('ul', { class: 'entries' }, rows) : h('p', { class: 'muted' }, 'Empty.'));
    });
    const pairs = m.flowBlocks.map((p) => {
      const name = (id) => (id === null ? '(not seen since restart)' : m.nodes.get(id) ? m.label(m.nodes.get(id)) : `node ${id}`);
      const b = h('button', { type: 'button', class: 'small' }, 'Remove');
      b.disabled = p.node1 === null || p.node2 === null;
      b.addEventListener('click', () => this.act(b, () =>
        this.link.rpc('set_flow_block', { node1: p.node1, node2: p.node2, block: false })));
      return h('li', null, `${name(p.node1)} ↔ ${name(p.node2)} `, b);
    });
    sections.push(h('section', { class: 'list', dataset: { list: 'pairs' } },
      h('h3', null, `Blocked flows (${pairs.length})`),
      pairs.length ? h('ul', { class: 'entries' }, pairs) : h('p', { class: 'muted' }, 'None.')));
    replace(this.body, sections);
  }
}

/** Asks spind for the three lists and the node pairs. */
export async function loadLists(model, link) {
  const [block, allow, ignore, pairs] = await Promise.all([
    link.rpc('list_iplist', { list: 'block' }),
    link.rpc('list_iplist', { list: 'allow' }),
    link.rpc('list_iplist', { list: 'ignore' }),
    link.rpc('get_flow_block', {}),
  ]);
  model.setList('block', block);
  model.setList('allow', allow);
  model.setList('ignore', ignore);
  model.setFlowBlocks(pairs);
}

export class DevicesDialog {
  constructor({ model, link, onShowNode }) {
    this.model = model;
    this.link = link;
    this.onShowNode = onShowNode;
    this.dlg = byId('devices-dialog');
    this.body = byId('devices-body');
    this.notes = byId('notifications-body');
    this.status = byId('devices-status');
    closers(this.dlg);
    byId('devices-refresh').addEventListener('click', () => this.load());
  }

  show() {
    openDialog(this.dlg);
    this.load();
  }

  say(text, error = false) {
    this.status.textContent = text;
    this.status.classList.toggle('error', error);
  }

  async load() {
    this.say('Loading…');
    const [devices, profiles, notes] = await Promise.allSettled([api.devices(), api.profiles(), api.notifications()]);
    this.rest = devices.status === 'fulfilled';
    let devs = [];
    let profs = [];
    let note = '';
    if (this.rest) {
      devs = Object.values(devices.value || {}).filter((d) => d && typeof d.mac === 'string').map((d) => ({
        mac: d.mac, name: typeof d.name === 'string' ? d.name : '', lastSeen: d.lastSeen,
        profile: Array.isArray(d.appliedProfiles) && d.appliedProfiles.length ? String(d.appliedProfiles[0]) : '',
        isNew: d.new === true }));
      profs = profiles.status === 'fulfilled' && Array.isArray(profiles.value) ? profiles.value : [];
    } else {
      // No HTTP API here: the same facts from spind over MQTT (JSON-RPC).
      note = unavailable(devices.reason)
        ? 'The HTTP API is not available on this server: devices and profiles come from spind over MQTT; notifications and capture are not available.'
        : `The HTTP API failed (${devices.reason.message}); devices come from spind over MQTT.`;
      try {
        const [nodes, lp] = await Promise.all([this.link.rpc('list_devices', {}),
          this.link.rpc('list_profiles', {}).catch(() => null)]);
        const applied = lp && lp.devices && typeof lp.devices === 'object' ? lp.devices : {};
        profs = lp && Array.isArray(lp.profiles) ? lp.profiles : [];
        devs = (Array.isArray(nodes) ? nodes : []).filter((n) => n && typeof n.mac === 'string').map((n) => ({
          mac: n.mac, name: this.model.label(n), lastSeen: n.lastseen,
          profile: typeof applied[n.mac] === 'string' ? applied[n.mac] : '', isNew: false }));
      } catch (e) {
        this.say(`${note} ${e.message}`, true);
        replace(this.body, h('p', { class: 'muted' }, 'Devices are not available.'));
        this.renderNotes(notes);
        return;
      }
    }
    devs.sort((a, b) => (a.name || a.mac).localeCompare(b.name || b.mac));
    this.renderDevices(devs, profs);
    this.renderNotes(notes);
    this.say(note);
  }

  renderDevices(devs, profs) {
    if (!devs.length) {
      replace(this.body, h('p', { class: 'muted' }, 'No devices yet.'));
      return;
    }
    const rows = devs.map((d) => {
      const select = h('select', { 'aria-label': `Profile of ${d.name || d.mac}` },
        h('option', { value: '' }, '(none)'),
        profs.filter((p) => p && typeof p.id === 'string').map((p) =>
          h('option', { value: p.id, selected: p.id === d.profile }, typeof p.name === 'string' ? p.name : p.id)));
      select.addEventListener('change', async () => {
        select.disabled = true;
        this.say('Setting the profile…');
        try {
          if (this.rest) await api.setProfile(d.mac, select.value);
          else await this.link.rpc('set_device_profile', { device: d.mac, profile: select.value || 'allow_all' });
          this.say(`Profile of ${d.name || d.mac} set.`);
        } catch (e) {
          this.say(e.message, true);
        } finally {
          select.disabled = false;
        }
      });
      const show = h('button', { type: 'button', class: 'small' }, 'Show');
      show.addEventListener('click', () => {
        this.dlg.close();
        this.onShowNode(d.mac);
      });
      let fresh = null;
      if (d.isNew) {
        fresh = h('button', { type: 'button', class: 'small badge-new', title: 'Mark as known' }, 'new');
        fresh.addEventListener('click', async () => {
          try {
            await api.toggleNew(d.mac);
            fresh.remove();
          } catch (e) {
            this.say(e.message, true);
          }
        });
      }
      return h('tr', { dataset: { mac: d.mac } },
        h('td', null, d.name || '-', ' ', fresh),
        h('td', null, h('code', null, d.mac)),
        h('td', null, Number.isFinite(d.lastSeen) ? formatTime(d.lastSeen) : '-'),
        h('td', null, select),
        h('td', null, show,
          this.rest ? h('a', { class: 'button small', href: api.captureUrl(d.mac), download: `${d.mac.replace(/:/g, '')}.pcap` }, 'pcap') : null));
    });
    replace(this.body, h('table', { class: 'table' },
      h('thead', null, h('tr', null, ['Name', 'MAC', 'Last seen', 'Profile', ''].map((t) => h('th', null, t)))),
      h('tbody', null, rows)));
  }

  renderNotes(result) {
    if (result.status !== 'fulfilled') {
      const why = unavailable(result.reason) ? 'not available on this server' : result.reason.message;
      replace(this.notes, h('p', { class: 'muted' }, `Notifications: ${why}.`));
      return;
    }
    const list = Array.isArray(result.value) ? result.value : [];
    if (!list.length) {
      replace(this.notes, h('p', { class: 'muted' }, 'No notifications.'));
      return;
    }
    replace(this.notes, h('ul', { class: 'entries' }, list.filter((n) => n && typeof n === 'object').map((n) => {
      const b = h('button', { type: 'button', class: 'small' }, 'Delete');
      b.addEventListener('click', async () => {
        b.disabled = true;
        try {
          await api.deleteNotification(n.id);
          b.closest('li').remove();
        } catch (e) {
          this.say(e.message, true);
          b.disabled = false;
        }
      });
      const who = typeof n.deviceName === 'string' ? n.deviceName : typeof n.deviceMac === 'string' ? n.deviceMac : '';
      return h('li', null, h('span', { class: 'muted' }, Number.isFinite(n.timestamp) ? `${formatTime(n.timestamp > 1e11 ? n.timestamp / 1000 : n.timestamp)} ` : ''),
        who ? h('strong', null, `${who}: `) : null, typeof n.message === 'string' ? n.message : '', ' ', b);
    })));
  }
}

export class SettingsDialog {
  constructor({ settings, params, onApply }) {
    this.settings = settings;
    this.onApply = onApply;
    this.dlg = byId('settings-dialog');
    this.form = byId('settings-form');
    closers(this.dlg);
    byId('settings-broker').textContent = `${params.url()} (topic root ${params.topicRoot})`;
    byId('settings-defaults').addEventListener('click', () => this.fill(DEFAULT_SETTINGS));
    this.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const f = this.form.elements;
      const next = sanitize({
        fadeAfter: Number(f.fadeAfter.value),
        removeAfter: Number(f.removeAfter.value),
        maxPeers: Number(f.maxPeers.value),
        maxBubbles: Number(f.maxBubbles.value),
        edgeLabels: f.edgeLabels.checked,
        physics: f.physics.checked,
      });
      Object.assign(this.settings, next);
      saveSettings(this.settings);
      this.onApply();
      this.dlg.close();
    });
  }

  fill(s) {
    const f = this.form.elements;
    f.fadeAfter.value = s.fadeAfter;
    f.removeAfter.value = s.removeAfter;
    f.maxPeers.value = s.maxPeers;
    f.maxBubbles.value = s.maxBubbles;
    f.edgeLabels.checked = s.edgeLabels;
    f.physics.checked = s.physics;
  }

  show() {
    this.fill(this.settings);
    openDialog(this.dlg);
  }
}

export class LoginDialog {
  constructor({ onLogin }) {
    this.dlg = byId('login-dialog');
    this.form = byId('login-form');
    this.reason = byId('login-reason');
    this.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const f = this.form.elements;
      const username = f.username.value;
      const password = f.password.value;
      f.password.value = '';
      this.dlg.close();
      onLogin({ username, password });
    });
    // Escape would leave the page without a connection and no way back to
    // this dialog: it stays until the user logs in.
    this.dlg.addEventListener('cancel', (ev) => ev.preventDefault());
  }

  show(reason) {
    this.reason.textContent = reason || 'The broker asks for a user name and password.';
    openDialog(this.dlg);
    // After a refusal the user name is still there: the password is next.
    const f = this.form.elements;
    (f.username.value ? f.password : f.username).focus();
  }
}
