// What the app knows about the network: nodes (devices and services, keyed
// by spind's node id), edges between them (traffic, DNS queries), the block /
// allow / ignore lists and the blocked node pairs. Fed by MQTT messages
// (doc/mqtt.md); read by the graph view and the panels. Every input is
// checked: a malformed message is skipped, never half-applied.

import { serviceName } from './services.js';

/** A node id as a number, or null when `v` is not one (numbers or numeric strings). */
export function nodeId(v) {
  if (typeof v === 'string' && /^\d+$/.test(v)) v = Number(v);
  return Number.isSafeInteger(v) && v >= 0 ? v : null;
}

const strings = (v, max = 256) =>
  Array.isArray(v) ? v.filter((s) => typeof s === 'string').slice(0, max) : [];

export function edgeKey(a, b) {
  return a < b ? `${a}-${b}` : `${b}-${a}`;
}

export class Model {
  constructor() {
    this.listeners = new Set();
    this.clear();
  }

  /** Forgets everything (serverRestart: node ids restart with spind). */
  clear() {
    /** id -> node entry (see upsertNode) */
    this.nodes = new Map();
    /** edgeKey -> edge entry */
    this.edges = new Map();
    /** address -> node id (the last node that carried it) */
    this.byIp = new Map();
    this.lists = { block: new Set(), allow: new Set(), ignore: new Set() };
    /** [{node1, node2}] blocked node pairs (get_flow_block) */
    this.flowBlocks = [];
    this.clock = { ts: 0, at: 0 };
    this.version = (this.version || 0) + 1;
    this.totals = { messages: 0, traffic: 0, skipped: 0 };
    this.emit('clear');
  }

  on(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(what, detail) {
    for (const fn of this.listeners) fn(what, detail);
  }

  changed() {
    this.version++;
  }

  /**
   * "Now" on spind's clock, in UNIX seconds: node `lastseen` values are
   * spind's event time, which may differ from this browser's clock (or be
   * a replayed capture's time), so ages are measured against the newest
   * traffic timestamp plus the time passed since it arrived.
   */
  now() {
    if (!this.clock.ts) return Date.now() / 1000;
    return this.clock.ts + (performance.now() - this.clock.at) / 1000;
  }

  /**
   * Adds or updates a node from a NODE object (nodeInfo, or the complete
   * nodes inside traffic / blocked / dnsquery messages). Returns the entry, or
   * null when the object is not a NODE.
   */
  upsertNode(obj) {
    if (!obj || typeof obj !== 'object') return null;
    const id = nodeId(obj.id);
    if (id === null) return null;
    let n = this.nodes.get(id);
    if (!n) {
      n = {
        id,
        ips: [],
        domains: [],
        mac: '',
        name: '',
        isBlocked: false,
        isExcepted: false,
        lastseen: 0,
        bytes: 0,
        packets: 0,
        rateTs: 0,
        rateBytes: 0,
        queried: false,
        blockedAt: 0,
        edges: new Set(),
      };
      this.nodes.set(id, n);
    }
    const ips = strings(obj.ips);
    for (const ip of n.ips) if (this.byIp.get(ip) === id && !ips.includes(ip)) this.byIp.delete(ip);
    n.ips = ips;
    for (const ip of ips) this.byIp.set(ip, id);
    n.domains = strings(obj.domains);
    n.mac = typeof obj.mac === 'string' ? obj.mac.toLowerCase() : '';
    n.name = typeof obj.name === 'string' ? obj.name : '';
    n.isBlocked = obj.is_blocked === true;
    n.isExcepted = obj.is_excepted === true;
    if (Number.isFinite(obj.lastseen) && obj.lastseen > n.lastseen) n.lastseen = obj.lastseen;
    this.changed();
    return n;
  }

  /** nodeDeleted, or an empty retained payload on the node's topic. */
  deleteNode(id) {
    const n = this.nodes.get(id);
    if (!n) return;
    for (const key of n.edges) {
      const e = this.edges.get(key);
      if (!e) continue;
      this.edges.delete(key);
      const other = this.nodes.get(e.a === id ? e.b : e.a);
      if (other) other.edges.delete(key);
    }
    for (const ip of n.ips) if (this.byIp.get(ip) === id) this.byIp.delete(ip);
    this.nodes.delete(id);
    this.changed();
    this.emit('deleted', id);
  }

  /** nodeMerged: `id`'s traffic and edges move to `into`. */
  mergeNode(id, into) {
    const from = this.nodes.get(id);
    if (!from || id === into) return;
    let to = this.nodes.get(into);
    if (!to) to = this.upsertNode({ id: into, ips: from.ips, domains: from.domains, lastseen: from.lastseen });
    to.bytes += from.bytes;
    to.packets += from.packets;
    to.lastseen = Math.max(to.lastseen, from.lastseen);
    for (const key of [...from.edges]) {
      const e = this.edges.get(key);
      if (!e) continue;
      const other = e.a === id ? e.b : e.a;
      if (other === into) continue;
      const ne = this.edge(into, other);
      ne.bytes += e.bytes;
      ne.packets += e.packets;
      ne.lastseen = Math.max(ne.lastseen, e.lastseen);
      ne.dnsOnly = ne.dnsOnly && e.dnsOnly;
      for (const [s, b] of e.services) ne.services.set(s, (ne.services.get(s) || 0) + b);
    }
    this.deleteNode(id);
    this.emit('merged', { id, into });
  }

  /** The edge between two nodes (created when missing). */
  edge(x, y) {
    const key = edgeKey(x, y);
    let e = this.edges.get(key);
    if (!e) {
      e = { key, a: Math.min(x, y), b: Math.max(x, y), bytes: 0, packets: 0, lastseen: 0,
        services: new Map(), dnsOnly: true, blockedAt: 0 };
      this.edges.set(key, e);
      this.nodes.get(x)?.edges.add(key);
      this.nodes.get(y)?.edges.add(key);
    }
    return e;
  }

  /** A `traffic` message's result. Returns {timestamp, bytes, packets} or null. */
  applyTraffic(r) {
    if (!r || typeof r !== 'object' || !Array.isArray(r.flows)) return null;
    const ts = Number.isFinite(r.timestamp) ? r.timestamp : Math.floor(Date.now() / 1000);
    if (ts >= this.clock.ts) this.clock = { ts, at: performance.now() };
    for (const f of r.flows) {
      if (!f || typeof f !== 'object') continue;
      const from = this.upsertNode(f.from);
      const to = this.upsertNode(f.to);
      if (!from || !to) {
        this.totals.skipped++;
        continue;
      }
      const size = Number.isFinite(f.size) ? f.size : 0;
      const count = Number.isFinite(f.count) ? f.count : 0;
      for (const n of [from, to]) {
        n.bytes += size;
        n.packets += count;
        n.lastseen = Math.max(n.lastseen, ts);
        if (n.rateTs !== ts) {
          n.rateTs = ts;
          n.rateBytes = 0;
        }
        n.rateBytes += size;
      }
      if (from.id === to.id) continue;
      const e = this.edge(from.id, to.id);
      e.bytes += size;
      e.packets += count;
      e.lastseen = Math.max(e.lastseen, ts);
      e.dnsOnly = false;
      const port = f.port ?? f.to_port ?? f.dst_port;
      const svc = serviceName(typeof f.protocol === 'number' ? f.protocol : undefined, port);
      e.services.set(svc, (e.services.get(svc) || 0) + size);
    }
    this.totals.traffic++;
    this.changed();
    return {
      timestamp: ts,
      bytes: Number.isFinite(r.total_size) ? r.total_size : 0,
      packets: Number.isFinite(r.total_count) ? r.total_count : 0,
    };
  }

  /** `blocked`: traffic the firewall dropped between two nodes. */
  applyBlocked(r) {
    if (!r || typeof r !== 'object') return;
    const from = this.upsertNode(r.from);
    const to = this.upsertNode(r.to);
    const ts = Number.isFinite(r.timestamp) ? r.timestamp : this.now();
    if (from) from.blockedAt = ts;
    if (to) to.blockedAt = ts;
    if (from && to && from.id !== to.id) this.edge(from.id, to.id).blockedAt = ts;
    this.changed();
  }

  /** `dnsquery`: a device asked for a name (a dashed edge until traffic flows). */
  applyDnsQuery(r) {
    if (!r || typeof r !== 'object') return;
    const from = this.upsertNode(r.from);
    const q = this.upsertNode(r.queriednode);
    if (!q) return;
    q.queried = true;
    if (typeof r.query === 'string' && r.query && !q.domains.includes(r.query) && q.domains.length < 64) {
      q.domains.push(r.query);
    }
    const ts = Math.max(from ? from.lastseen : 0, q.lastseen, this.clock.ts);
    q.lastseen = Math.max(q.lastseen, ts);
    if (from && from.id !== q.id) {
      const e = this.edge(from.id, q.id);
      e.lastseen = Math.max(e.lastseen, ts);
      if (e.dnsOnly) e.services.set('dns', 0);
    }
    this.changed();
  }

  /** A list broadcast: `blocks`, `ignores`/`filters`, `allows`/`alloweds`. */
  setList(name, ips) {
    if (!(name in this.lists) || !Array.isArray(ips)) return;
    this.lists[name] = new Set(strings(ips, 1 << 20));
    this.changed();
    this.emit('lists', name);
  }

  setFlowBlocks(pairs) {
    if (!Array.isArray(pairs)) return;
    this.flowBlocks = pairs
      .filter((p) => p && typeof p === 'object')
      .map((p) => ({ node1: nodeId(p.node1), node2: nodeId(p.node2),
        elements: Number.isFinite(p.elements) ? p.elements : null }));
    this.changed();
    this.emit('lists', 'pairs');
  }

  isFlowBlocked(x, y) {
    return this.flowBlocks.some((p) => (p.node1 === x && p.node2 === y) || (p.node1 === y && p.node2 === x));
  }

  isDevice(n) {
    return Boolean(n.mac);
  }

  /** On the block list: spind's flag, or one of its addresses on the list. */
  isBlocked(n) {
    return n.isBlocked || n.ips.some((ip) => this.lists.block.has(ip));
  }

  isAllowed(n) {
    return n.isExcepted || n.ips.some((ip) => this.lists.allow.has(ip));
  }

  isIgnored(n) {
    return n.ips.length > 0 && n.ips.some((ip) => this.lists.ignore.has(ip));
  }

  /** Known only from DNS: it was asked for or answered, but no traffic seen. */
  isDnsOnly(n) {
    return n.bytes === 0 && !n.mac && (n.queried || n.domains.length > 0);
  }

  /** The text a node is shown with: user/DHCP name, else a DNS name, else an address. */
  label(n) {
    const first = (v) => (Array.isArray(v) && typeof v[0] === 'string' ? v[0] : '');
    const text = (v) => (typeof v === 'string' ? v : '');
    return text(n.name) || first(n.domains) || first(n.ips) || text(n.mac) || `node ${n.id}`;
  }

  /** The node carrying an address, if any. */
  nodeByIp(ip) {
    const id = this.byIp.get(ip);
    return id === undefined ? null : this.nodes.get(id) || null;
  }
}
