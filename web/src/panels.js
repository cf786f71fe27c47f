// The side panel: details of the selected bubble (a node, a group of nodes
// or an edge) and the actions on it. Actions are JSON-RPC calls to spind
// (doc/control.md); their effect comes back as nodeInfo and list broadcasts,
// so the picture changes when spind has carried the change out and saved it.

import { api, unavailable } from './api.js';
import { append, byId, clear, h, replace } from './dom.js';
import { formatBytes, formatCount, formatDuration, formatTime } from './format.js';
import { serviceName } from './services.js';

export class Panels {
  constructor({ model, view, link }) {
    this.model = model;
    this.view = view;
    this.link = link;
    this.el = byId('panel');
    this.title = byId('panel-title');
    this.body = byId('panel-body');
    this.current = null; // {kind: 'node'|'group'|'edge', id}
    byId('panel-close').addEventListener('click', () => this.close());
    window.setInterval(() => this.refresh(), 1000);
  }

  close() {
    this.current = null;
    this.el.hidden = true;
    this.view.select(null);
    this.view.network.unselectAll();
  }

  open(kind, id) {
    this.current = { kind, id };
    this.el.hidden = false;
    this.el.dataset.kind = kind;
    this.el.dataset.id = String(id);
    clear(this.body);
    this.dynamic = h('div', { class: 'panel-info' });
    this.status = h('p', { class: 'panel-status', role: 'status', 'aria-live': 'polite' });
    if (kind === 'node') this.buildNode(id);
    else if (kind === 'group') this.buildGroup(id);
    else this.buildEdge(id);
    this.refresh();
  }

  /** Opens whatever a bubble (vis id) stands for. */
  openBubble(visId) {
    if (typeof visId === 'string' && visId.startsWith('g:')) this.open('group', visId);
    else this.open('node', visId);
  }

  say(text, error = false) {
    if (!this.status) return;
    this.status.textContent = text;
    this.status.classList.toggle('error', error);
  }

  /** Runs an action with its button disabled and the outcome in the status line. */
  async act(button, busy, done, fn) {
    button.disabled = true;
    this.say(busy);
    try {
      await fn();
      this.say(done);
    } catch (e) {
      this.say(e.message || String(e), true);
    } finally {
      button.disabled = false;
      this.refresh();
    }
  }

  refresh() {
    if (!this.current) return;
    const { kind, id } = this.current;
    if (kind === 'node') this.refreshNode(id);
    else if (kind === 'group') this.refreshGroup(id);
    else this.refreshEdge(id);
  }

  // ---- nodes ----------------------------------------------------------------

  buildNode(id) {
    const node = () => this.model.nodes.get(id);
    const listAction = (list, onWord, offWord, isOn) => {
      const b = h('button', { type: 'button', class: `act act-${list}` });
      b.addEventListener('click', () => {
        const n = node();
        if (!n) return;
        const on = isOn(n);
        const method = on ? 'remove_iplist_node' : 'add_iplist_node';
        this.act(b, `${on ? offWord : onWord}…`, 'done', async () => {
          await this.link.rpc(method, { list, node: id });
          await this.refreshList(list);
        });
      });
      return b;
    };
    this.blockBtn = listAction('block', 'Blocking', 'Unblocking', (n) => this.model.isBlocked(n));
    this.allowBtn = listAction('allow', 'Allowing', 'No longer allowing', (n) => this.model.isAllowed(n));
    this.ignoreBtn = listAction('ignore', 'Ignoring', 'No longer ignoring', (n) => this.model.isIgnored(n));

    const nameInput = h('input', { type: 'text', id: 'rename-input', maxlength: '64',
      'aria-label': 'New name', placeholder: 'new name', autocomplete: 'off' });
    const renameBtn = h('button', { type: 'submit', class: 'act act-rename' }, 'Rename');
    const renameForm = h('form', { class: 'rename' }, nameInput, renameBtn);
    renameForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const name = nameInput.value.trim();
      if (!name) {
        this.say('Type a name first.', true);
        return;
      }
      this.act(renameBtn, 'Renaming…', `renamed to "${name}"`, async () => {
        await this.link.rpc('set_device_name', { node: id, name });
        nameInput.value = '';
      });
    });

    const actions = h('div', { class: 'actions' }, this.blockBtn, this.allowBtn, this.ignoreBtn);
    const n = node();
    if (n && n.mac) {
      const cap = h('button', { type: 'button', class: 'act act-capture' }, 'Capture pcap');
      cap.addEventListener('click', () => this.capture(cap, id));
      const flows = h('button', { type: 'button', class: 'act act-flows' }, 'Recent flows');
      flows.addEventListener('click', () => this.showFlows(flows, id));
      append(actions, [cap, flows]);
    }
    this.flowsBox = h('div', { class: 'flows' });
    append(this.body, [this.dynamic, actions, renameForm, this.status, this.flowsBox]);
  }

  refreshNode(id) {
    const m = this.model;
    const n = m.nodes.get(id);
    if (!n) {
      this.title.textContent = `node ${id}`;
      replace(this.dynamic, h('p', { class: 'muted' }, 'This node is gone (deleted or merged by spind).'));
      for (const b of [this.blockBtn, this.allowBtn, this.ignoreBtn]) b.disabled = true;
      return;
    }
    this.title.textContent = m.label(n);
    const age = m.now() - n.lastseen;
    const blocked = m.isBlocked(n);
    const allowed = m.isAllowed(n);
    const ignored = m.isIgnored(n);
    const flags = [n.mac ? 'device' : m.isDnsOnly(n) ? 'DNS only' : 'service'];
    if (blocked) flags.push('blocked');
    if (allowed) flags.push('allowed');
    if (ignored) flags.push('ignored');
    const rate = n.rateTs && m.now() - n.rateTs < 3 ? `, ${formatBytes(n.rateBytes)}/s now` : '';
    replace(this.dynamic, dl([
      ['Name', n.name || '(none)'],
      ['Kind', flags.join(', ')],
      ['MAC', n.mac || '-'],
      ['Addresses', list(n.ips)],
      ['Domains', list(n.domains)],
      ['Traffic', `${formatBytes(n.bytes)} in ${formatCount(n.packets)} packets${rate}`],
      ['Last seen', n.lastseen ? `${formatTime(n.lastseen)} (${formatDuration(age)} ago)` : '-'],
      ['Node id', String(n.id)],
    ]));
    this.el.dataset.blocked = String(blocked);
    this.blockBtn.textContent = blocked ? 'Unblock' : 'Block';
    this.allowBtn.textContent = allowed ? 'Stop allowing' : 'Allow';
    this.ignoreBtn.textContent = ignored ? 'Stop ignoring' : 'Ignore';
    this.blockBtn.setAttribute('aria-pressed', String(blocked));
    this.allowBtn.setAttribute('aria-pressed', String(allowed));
    this.ignoreBtn.setAttribute('aria-pressed', String(ignored));
  }

  async refreshList(list) {
    const ips = await this.link.rpc('list_iplist', { list });
    this.model.setList(list, ips);
  }

  async capture(button, id) {
    const n = this.model.nodes.get(id);
    if (!n || !n.mac) return;
    button.disabled = true;
    try {
      await api.captureStatus(n.mac);
      const a = h('a', { href: api.captureUrl(n.mac), download: `${n.mac.replace(/:/g, '')}.pcap` });
      document.body.appendChild(a);
      a.click();
      a.remove();
      this.say('Capture started: the pcap downloads while it runs (stop it in the downloads list).');
    } catch (e) {
      this.say(unavailable(e) ? 'Capture is not available: this server has no capture API.' : e.message, true);
    } finally {
      button.disabled = false;
    }
  }

  async showFlows(button, id) {
    const n = this.model.nodes.get(id);
    if (!n || !n.mac) return;
    button.disabled = true;
    try {
      const flows = await this.link.rpc('list_device_flows', { device: n.mac });
      const rows = (Array.isArray(flows) ? flows : []).slice(0, 128).map((f) => {
        const to = f && f.to && typeof f.to === 'object' ? f.to : null;
        return h('tr', null,
          h('td', null, to ? this.model.label(to) : '?'),
          h('td', null, serviceName(f.protocol, f.dst_port ?? f.icmp_type)),
          h('td', { class: 'num' }, formatBytes(f.bytes)),
          h('td', null, f.blocked ? 'blocked' : ''));
      });
      replace(this.flowsBox, rows.length
        ? h('table', { class: 'table' }, h('thead', null, h('tr', null, h('th', null, 'To'),
          h('th', null, 'Service'), h('th', null, 'Bytes'), h('th', null, ''))), h('tbody', null, rows))
        : h('p', { class: 'muted' }, 'No recent flows.'));
    } catch (e) {
      this.say(e.message, true);
    } finally {
      button.disabled = false;
    }
  }

  // ---- groups ---------------------------------------------------------------

  buildGroup(gid) {
    this.expandBtn = h('button', { type: 'button', class: 'act act-expand' });
    this.expandBtn.addEventListener('click', () => {
      this.view.toggleGroup(gid);
      this.refresh();
    });
    this.members = h('ul', { class: 'members' });
    append(this.body, [this.dynamic, h('div', { class: 'actions' }, this.expandBtn), this.status, this.members]);
  }

  refreshGroup(gid) {
    const g = this.view.groups.get(gid);
    const expanded = this.view.expanded.has(gid);
    this.expandBtn.textContent = expanded ? 'Collapse' : 'Expand';
    if (!g) {
      this.title.textContent = expanded ? 'Expanded group' : 'Group';
      replace(this.dynamic, h('p', { class: 'muted' },
        expanded ? 'Its members are drawn one by one.' : 'This group is gone.'));
      clear(this.members);
      return;
    }
    const m = this.model;
    const dev = m.nodes.get(g.device);
    const members = g.members.map((id) => m.nodes.get(id)).filter(Boolean);
    const bytes = members.reduce((a, n) => a + n.bytes, 0);
    this.title.textContent = g.label;
    replace(this.dynamic, dl([
      ['Device', dev ? m.label(dev) : '-'],
      ['Services', String(members.length)],
      ['Traffic', formatBytes(bytes)],
    ]));
    replace(this.members, members.slice(0, 300).map((n) => h('li', null,
      h('button', { type: 'button', class: 'link', onclick: () => {
        this.view.reveal(n.id);
        this.view.select(n.id);
        this.open('node', n.id);
      } }, m.label(n)), ` ${formatBytes(n.bytes)}`)));
  }

  // ---- edges ----------------------------------------------------------------

  buildEdge(edgeId) {
    this.pairBtn = h('button', { type: 'button', class: 'act act-pair' });
    this.pairBtn.addEventListener('click', () => {
      const v = this.view.viewEdges.get(edgeId);
      if (!v || typeof v.from !== 'number' || typeof v.to !== 'number') return;
      const on = this.model.isFlowBlocked(v.from, v.to);
      this.act(this.pairBtn, on ? 'Unblocking the flow…' : 'Blocking the flow…', 'done', async () => {
        await this.link.rpc('set_flow_block', { node1: v.from, node2: v.to, block: !on });
        this.model.setFlowBlocks(await this.link.rpc('get_flow_block', {}));
      });
    });
    append(this.body, [this.dynamic, h('div', { class: 'actions' }, this.pairBtn), this.status]);
  }

  refreshEdge(edgeId) {
    const v = this.view.viewEdges.get(edgeId);
    const m = this.model;
    if (!v) {
      this.title.textContent = 'Flow';
      replace(this.dynamic, h('p', { class: 'muted' }, 'This flow is no longer drawn.'));
      this.pairBtn.disabled = true;
      return;
    }
    const name = (x) => (typeof x === 'number' ? (m.nodes.get(x) ? m.label(m.nodes.get(x)) : `node ${x}`)
      : this.view.groups.get(x)?.label || 'group');
    this.title.textContent = `${name(v.from)} ↔ ${name(v.to)}`;
    let packets = 0;
    for (const key of v.members) packets += m.edges.get(key)?.packets || 0;
    const services = [...v.services].sort((a, b) => b[1] - a[1])
      .map(([s, b]) => (b ? `${s} (${formatBytes(b)})` : s));
    const real = typeof v.from === 'number' && typeof v.to === 'number';
    const pair = real && m.isFlowBlocked(v.from, v.to);
    replace(this.dynamic, dl([
      ['Between', `${name(v.from)} and ${name(v.to)}`],
      ['Services', list(services)],
      ['Traffic', `${formatBytes(v.bytes)} in ${formatCount(packets)} packets`],
      ['Last seen', v.lastseen ? formatTime(v.lastseen) : '-'],
      ['Blocked', pair ? 'yes (this node pair)' : 'no'],
    ]));
    this.pairBtn.hidden = !real;
    this.pairBtn.disabled = false;
    this.pairBtn.textContent = pair ? 'Unblock flow' : 'Block flow';
    if (!real) this.say('A group takes part: expand it to block one flow.');
  }
}

function dl(rows) {
  return h('dl', { class: 'facts' }, rows.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}

function list(items) {
  if (!items.length) return '-';
  return h('ul', { class: 'plain' }, items.slice(0, 40).map((s) => h('li', null, s)),
    items.length > 40 ? h('li', { class: 'muted' }, `… ${items.length - 40} more`) : null);
}
