// The live graph: turns the model into vis-network bubbles and edges.
//
// Fluid with thousands of nodes: the picture is recomputed at most a few
// times per second (once per animation frame when something changed, with a
// floor of 250 ms between recomputations while messages pour in), only the
// bubbles whose look changed are handed to vis-network, in one batch, and a
// device's many small peers are grouped (by registered domain, the rest as
// "N other services"), so the layout simulates hundreds of bubbles, not
// thousands. The user can expand any group.

import { registeredDomain } from './domains.js';

export const COLORS = Object.freeze({
  device: '#2fb5a8',
  service: '#4d8fe0',
  dnsOnly: '#e0b040',
  group: '#8a74d8',
  blockedFill: '#b83b3b',
  blockedBorder: '#ff2a2a',
  allowedBorder: '#2ecc71',
  border: '#0d1b2a',
  edge: '#8aa1bd',
  edgeDns: '#e0b040',
  edgeBlocked: '#ff2a2a',
  label: '#e8eef5',
});

const MIN_RECOMPUTE_MS = 250;
const TICK_MS = 1000;
/** Domain groups per device; smaller domains go to "N other services". */
const MAX_DOMAIN_GROUPS = 6;
/** A service changes owner when another device has this many times more bytes with it. */
const OWNER_SWITCH = 1.5;

function rgba(hex, alpha) {
  const v = Number.parseInt(hex.slice(1), 16);
  return `rgba(${(v >> 16) & 255},${(v >> 8) & 255},${v & 255},${alpha})`;
}

/**
 * A byte count rounded to steps of about 12% (20 per decade): sizes are
 * logarithmic, so a bubble looks the same between steps, and a bubble whose
 * rounded value did not change is not handed to vis-network again (with
 * thousands of nodes, most of a recomputation's cost is vis-network taking
 * in changed bubbles).
 */
function sizeValue(bytes) {
  if (!(bytes > 1)) return 1;
  return Math.round(10 ** (Math.round(Math.log10(bytes) * 20) / 20));
}

function shorten(text, max = 28) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Decades of traffic the sizes spread over, below the biggest bubble. */
const SCALE_DECADES = 3.5;

// Bubble size: logarithmic in bytes, so a video stream does not dwarf all,
// over the top few decades only (so that a few idle DNS-only nodes do not
// squeeze everything else into the largest sizes), and squared, so that ten
// times the traffic is a clearly bigger bubble.
function logScale(min, max, total, value) {
  if (max === min) return 0.5;
  const lv = Math.log1p(Math.max(0, value));
  const lmax = Math.log1p(Math.max(0, max));
  const lmin = Math.max(Math.log1p(Math.max(0, min)), lmax - SCALE_DECADES * Math.LN10);
  if (!(lmax > lmin)) return 0.5;
  const f = Math.min(1, Math.max(0, (lv - lmin) / (lmax - lmin)));
  return f * f;
}

export class GraphView {
  /**
   * @param container the element vis-network draws into
   * @param model the Model
   * @param settings the settings object (read on every recompute)
   * @param handlers {onSelectNode(visId), onSelectEdge(visEdgeId), onDeselect()}
   */
  constructor(container, model, settings, handlers) {
    this.model = model;
    this.settings = settings;
    this.handlers = handlers;
    this.expanded = new Set();
    this.selected = null; // vis id of the selected bubble
    this.nodesDs = new vis.DataSet();
    this.edgesDs = new vis.DataSet();
    this.nodeSig = new Map();
    this.edgeSig = new Map();
    /** the last computed picture: visId -> {kind, ids, device, ...} */
    this.groups = new Map();
    this.repOf = new Map();
    /** service node id -> the device it is drawn with */
    this.owners = new Map();
    this.viewEdges = new Map();
    this.lastVersion = -1;
    this.lastCompute = 0;
    this.forced = true;
    this.frames = 0;
    this.network = new vis.Network(container, { nodes: this.nodesDs, edges: this.edgesDs },
      this.options());
    // Until the user moves the picture, it is refitted while it grows.
    this.autoFit = true;
    this.lastFit = 0;
    for (const ev of ['dragStart', 'zoom']) this.network.on(ev, () => { this.autoFit = false; });
    this.network.on('click', (p) => this.onClick(p));
    this.network.on('doubleClick', (p) => {
      const id = p.nodes[0];
      if (id !== undefined && this.groups.has(id)) this.toggleGroup(id);
    });
    this.loop = this.loop.bind(this);
    window.requestAnimationFrame(this.loop);
  }

  options() {
    return {
      autoResize: true,
      layout: { improvedLayout: false, randomSeed: 7 },
      physics: {
        enabled: this.settings.physics,
        solver: 'forceAtlas2Based',
        forceAtlas2Based: { gravitationalConstant: -45, centralGravity: 0.008, springLength: 90,
          springConstant: 0.06, damping: 0.5, avoidOverlap: 0.3 },
        stabilization: false,
        maxVelocity: 30,
        minVelocity: 0.75,
        timestep: 0.4,
        adaptiveTimestep: true,
      },
      interaction: { hover: false, hideEdgesOnDrag: true, hideEdgesOnZoom: true, tooltipDelay: 400,
        multiselect: false, selectConnectedEdges: false, zoomSpeed: 0.6 },
      nodes: {
        shape: 'dot',
        borderWidth: 2,
        // Labels grow a little with the bubble and are not drawn when the
        // picture is zoomed out so far that they would be unreadable (which
        // also saves most of the drawing time with hundreds of bubbles).
        scaling: { min: 6, max: 36, customScalingFunction: logScale,
          label: { enabled: true, min: 13, max: 17, drawThreshold: 6, maxVisible: 24 } },
        font: { size: 13, color: COLORS.label, strokeWidth: 3, strokeColor: '#0b1622' },
      },
      edges: {
        smooth: false,
        selectionWidth: 2,
        color: { inherit: false },
        font: { size: 10, color: '#c7d3e0', strokeWidth: 3, strokeColor: '#0b1622', align: 'middle' },
        scaling: { min: 1, max: 6, customScalingFunction: logScale,
          label: { enabled: true, min: 9, max: 12, drawThreshold: 7, maxVisible: 18 } },
      },
    };
  }

  applySettings() {
    this.network.setOptions({ physics: { enabled: this.settings.physics } });
    this.invalidate();
  }

  /** Recompute at the next animation frame, whatever the throttle says. */
  invalidate() {
    this.forced = true;
  }

  loop(t) {
    this.frames++;
    const dirty = this.model.version !== this.lastVersion;
    if (this.forced || (dirty && t - this.lastCompute >= MIN_RECOMPUTE_MS) || t - this.lastCompute >= TICK_MS) {
      this.forced = false;
      this.lastVersion = this.model.version;
      this.lastCompute = t;
      const t0 = performance.now();
      this.render();
      this.renderMs = performance.now() - t0;
    }
    if (this.autoFit && t - this.lastFit >= 1500 && this.nodesDs.length) {
      this.lastFit = t;
      this.network.fit({ animation: false });
    }
    window.requestAnimationFrame(this.loop);
  }

  /** Which bubble stands for model node `id` (itself or its group), if drawn. */
  representative(id) {
    return this.repOf.get(id);
  }

  toggleGroup(gid) {
    if (this.expanded.has(gid)) this.expanded.delete(gid);
    else this.expanded.add(gid);
    this.invalidate();
  }

  /** Expands whatever group hides `id`, so the node gets its own bubble. */
  reveal(id) {
    const rep = this.repOf.get(id);
    if (rep !== undefined && rep !== id) {
      this.expanded.add(rep);
      this.invalidate();
    }
  }

  select(visId) {
    this.selected = visId;
    this.invalidate();
  }

  /** After serverRestart: no bubble of the old run survives. */
  reset() {
    this.autoFit = true;
    this.expanded.clear();
    this.selected = null;
    this.nodesDs.clear();
    this.edgesDs.clear();
    this.nodeSig.clear();
    this.edgeSig.clear();
    this.groups.clear();
    this.repOf.clear();
    this.owners.clear();
    this.viewEdges.clear();
    this.invalidate();
  }

  onClick(p) {
    if (p.nodes.length) {
      this.autoFit = false;
      this.selected = p.nodes[0];
      this.handlers.onSelectNode(p.nodes[0]);
    } else if (p.edges.length) {
      this.selected = null;
      this.handlers.onSelectEdge(p.edges[0]);
    } else {
      this.selected = null;
      this.handlers.onDeselect();
    }
  }

  /** Computes the picture from the model and hands vis-network the differences. */
  render() {
    const m = this.model;
    const s = this.settings;
    const now = m.now();
    const visible = [];
    for (const n of m.nodes.values()) {
      if (now - n.lastseen <= s.removeAfter || n.id === this.selected) visible.push(n);
    }
    const isVisible = new Set(visible.map((n) => n.id));
    const devices = visible.filter((n) => n.mac);

    // Each service belongs to the device it exchanged most with; it stays
    // with its last owner until another device has clearly more (hysteresis:
    // no bubbles hopping between devices every second).
    const owned = new Map(devices.map((d) => [d.id, []]));
    const owners = new Map();
    const loose = [];
    for (const n of visible) {
      if (n.mac) continue;
      const prev = this.owners.get(n.id);
      let best = null;
      let bestBytes = -1;
      let prevBytes = -1;
      for (const key of n.edges) {
        const e = m.edges.get(key);
        if (!e) continue;
        const other = e.a === n.id ? e.b : e.a;
        if (!owned.has(other) || !isVisible.has(other)) continue;
        if (other === prev) prevBytes = e.bytes;
        if (e.bytes > bestBytes) {
          bestBytes = e.bytes;
          best = other;
        }
      }
      if (prevBytes >= 0 && prevBytes * OWNER_SWITCH >= bestBytes) best = prev;
      if (best === null) {
        loose.push(n);
      } else {
        owned.get(best).push(n);
        owners.set(n.id, best);
      }
    }
    this.owners = owners;

    const budget = Math.max(0, s.maxBubbles - devices.length);
    const perDevice = Math.max(3, Math.min(s.maxPeers, Math.floor(budget / Math.max(1, devices.length))));
    const repOf = new Map();
    const groups = new Map();
    const wanted = new Map(); // visId -> vis node
    const fade = (n) => now - n.lastseen > s.fadeAfter;

    const addNode = (n) => {
      repOf.set(n.id, n.id);
      wanted.set(n.id, this.nodeLook(n, fade(n)));
    };
    for (const d of devices) addNode(d);

    // A device's (or, for services that talk to no device, everyone's)
    // peers: the largest one by one, the rest grouped.
    const groupPeers = (owner, peers, keepCount) => {
      const ownerKey = owner === null ? '-' : owner;
      peers.sort((x, y) => y.bytes - x.bytes || x.id - y.id);
      // The keepCount biggest get a bubble each, except that a peer that has
      // one keeps it while it ranks within twice that (hysteresis: no
      // bubbles popping in and out of groups as the ranking wobbles).
      const own = new Set();
      for (let i = 0; i < peers.length && i < 2 * keepCount && own.size < keepCount; i++) {
        if (this.repOf.get(peers[i].id) === peers[i].id) own.add(peers[i].id);
      }
      for (let i = 0; i < peers.length && own.size < keepCount; i++) own.add(peers[i].id);
      const byDomain = new Map();
      peers.forEach((n) => {
        const keep = own.has(n.id) || n.id === this.selected || m.isBlocked(n) || m.isAllowed(n);
        if (keep) {
          addNode(n);
          return;
        }
        const dom = registeredDomain(n.domains[0]);
        const gid = `g:${ownerKey}:${dom}`;
        if (this.expanded.has(gid)) {
          addNode(n);
          return;
        }
        if (!byDomain.has(gid)) byDomain.set(gid, { domain: dom, members: [] });
        byDomain.get(gid).members.push(n);
      });
      // The largest domains get a bubble each; single members and the
      // smaller domains join "N other services".
      const otherId = `g:${ownerKey}:*`;
      const other = { domain: '', members: [] };
      const big = [...byDomain].filter(([, g]) => g.domain && g.members.length > 1)
        .sort((x, y) => y[1].members.length - x[1].members.length || (x[0] < y[0] ? -1 : 1))
        .slice(0, MAX_DOMAIN_GROUPS).map(([gid]) => gid);
      const keepGroups = new Set(big);
      for (const [gid, g] of byDomain) {
        if (keepGroups.has(gid)) continue;
        other.members.push(...g.members);
        byDomain.delete(gid);
      }
      if (other.members.length) {
        if (this.expanded.has(otherId) || other.members.length === 1) other.members.forEach(addNode);
        else byDomain.set(otherId, other);
      }
      for (const [gid, g] of byDomain) {
        const label = g.domain ? `${g.domain} (${g.members.length})` : `${g.members.length} other services`;
        groups.set(gid, { id: gid, device: owner, domain: g.domain, label, members: g.members.map((n) => n.id) });
        for (const n of g.members) repOf.set(n.id, gid);
        const bytes = g.members.reduce((a, n) => a + n.bytes, 0);
        const old = g.members.every(fade);
        wanted.set(gid, this.groupLook(gid, label, bytes, old));
      }
    };
    for (const d of devices) groupPeers(d.id, owned.get(d.id), perDevice);
    const groupBubbles = (MAX_DOMAIN_GROUPS + 1) * (devices.length + 1);
    groupPeers(null, loose, Math.max(s.maxPeers, budget - perDevice * devices.length - groupBubbles));

    // Edges between bubbles: model edges summed per pair of representatives.
    const edges = new Map();
    for (const e of m.edges.values()) {
      const ra = repOf.get(e.a);
      const rb = repOf.get(e.b);
      if (ra === undefined || rb === undefined || ra === rb) continue;
      const [x, y] = String(ra) < String(rb) ? [ra, rb] : [rb, ra];
      const id = `${x}|${y}`;
      let v = edges.get(id);
      if (!v) {
        v = { id, from: x, to: y, bytes: 0, lastseen: 0, services: new Map(), dnsOnly: true,
          pairBlocked: false, blockedAt: 0, members: [] };
        edges.set(id, v);
      }
      v.bytes += e.bytes;
      v.lastseen = Math.max(v.lastseen, e.lastseen);
      v.dnsOnly = v.dnsOnly && e.dnsOnly;
      v.blockedAt = Math.max(v.blockedAt, e.blockedAt);
      if (v.members.length < 64) v.members.push(e.key);
      if (m.isFlowBlocked(e.a, e.b)) v.pairBlocked = true;
      for (const [svc, b] of e.services) v.services.set(svc, (v.services.get(svc) || 0) + b);
    }

    this.repOf = repOf;
    this.groups = groups;
    this.viewEdges = edges;
    this.applyNodes(wanted, repOf);
    this.applyEdges(edges, now);
  }

  nodeLook(n, old) {
    const m = this.model;
    const blocked = m.isBlocked(n);
    const allowed = m.isAllowed(n);
    let fill = n.mac ? COLORS.device : m.isDnsOnly(n) ? COLORS.dnsOnly : COLORS.service;
    if (blocked && !allowed) fill = COLORS.blockedFill;
    let border = COLORS.border;
    let width = n.mac ? 3 : 2;
    if (allowed) {
      border = COLORS.allowedBorder;
      width = 5;
    } else if (blocked) {
      border = COLORS.blockedBorder;
      width = 5;
    }
    const a = old ? 0.35 : 1;
    const bg = rgba(fill, a);
    const bd = border === COLORS.border ? rgba(COLORS.border, a) : border;
    return {
      id: n.id,
      label: shorten(m.label(n)),
      value: sizeValue(n.bytes + (n.mac ? 1e5 : 0)),
      borderWidth: width,
      borderWidthSelected: width + 2,
      color: { background: bg, border: bd, highlight: { background: bg, border: '#ffffff' } },
      font: { color: old ? 'rgba(232,238,245,0.45)' : COLORS.label, size: n.mac ? 15 : 13 },
    };
  }

  groupLook(gid, label, bytes, old) {
    const bg = rgba(COLORS.group, old ? 0.35 : 0.9);
    return {
      id: gid,
      label: shorten(label, 32),
      value: sizeValue(bytes),
      borderWidth: 2,
      borderWidthSelected: 4,
      shapeProperties: { borderDashes: [4, 3] },
      color: { background: bg, border: '#d9d0ff', highlight: { background: bg, border: '#ffffff' } },
      font: { color: old ? 'rgba(232,238,245,0.45)' : COLORS.label, size: 13 },
    };
  }

  applyNodes(wanted, repOf) {
    const add = [];
    const update = [];
    const remove = [];
    for (const id of this.nodeSig.keys()) if (!wanted.has(id)) remove.push(id);
    // New bubbles start next to their device so the layout settles fast.
    const anchors = new Map();
    for (const [id, look] of wanted) {
      const sig = JSON.stringify(look);
      const prev = this.nodeSig.get(id);
      if (prev === sig) continue;
      this.nodeSig.set(id, sig);
      if (prev === undefined) {
        const owner = typeof id === 'string' ? this.groups.get(id)?.device : this.ownerOf(id, repOf);
        if (owner !== undefined && owner !== null) anchors.set(id, owner);
        add.push(look);
      } else {
        update.push(look);
      }
    }
    if (anchors.size) {
      const known = this.network.getPositions([...new Set(anchors.values())].filter((o) => this.nodeSig.has(o) && this.nodesDs.get(o)));
      for (const look of add) {
        const p = known[anchors.get(look.id)];
        if (p) {
          const angle = Math.random() * Math.PI * 2;
          look.x = p.x + Math.cos(angle) * 60;
          look.y = p.y + Math.sin(angle) * 60;
        }
      }
    }
    for (const id of remove) this.nodeSig.delete(id);
    if (remove.length) this.nodesDs.remove(remove);
    if (add.length) this.nodesDs.add(add);
    if (update.length) this.nodesDs.update(update);
  }

  ownerOf(id, repOf) {
    const n = this.model.nodes.get(id);
    if (!n || n.mac) return undefined;
    for (const key of n.edges) {
      const e = this.model.edges.get(key);
      if (!e) continue;
      const other = this.model.nodes.get(e.a === id ? e.b : e.a);
      if (other && other.mac && repOf.get(other.id) === other.id) return other.id;
    }
    return undefined;
  }

  applyEdges(edges, now) {
    const s = this.settings;
    const add = [];
    const update = [];
    const remove = [];
    for (const id of this.edgeSig.keys()) if (!edges.has(id)) remove.push(id);
    for (const [id, v] of edges) {
      const old = now - v.lastseen > s.fadeAfter;
      const blockedRecently = v.blockedAt && now - v.blockedAt <= s.fadeAfter;
      let color = COLORS.edge;
      if (v.pairBlocked || blockedRecently) color = COLORS.edgeBlocked;
      else if (v.dnsOnly) color = COLORS.edgeDns;
      const names = [...v.services].sort((x, y) => y[1] - x[1]).map(([n]) => n);
      const label = s.edgeLabels && names.length
        ? names.slice(0, 2).join(', ') + (names.length > 2 ? ` +${names.length - 2}` : '')
        : undefined;
      const look = {
        id,
        from: v.from,
        to: v.to,
        value: sizeValue(v.bytes + 1),
        label,
        dashes: v.dnsOnly || v.pairBlocked,
        color: { color: rgba(color, old ? 0.25 : 0.8), highlight: '#ffffff' },
      };
      const sig = JSON.stringify(look);
      const prev = this.edgeSig.get(id);
      if (prev === sig) continue;
      this.edgeSig.set(id, sig);
      if (prev === undefined) add.push(look);
      else update.push(label === undefined ? { ...look, label: '' } : look);
    }
    for (const id of remove) this.edgeSig.delete(id);
    if (remove.length) this.edgesDs.remove(remove);
    if (add.length) this.edgesDs.add(add);
    if (update.length) this.edgesDs.update(update);
  }

  /** Where a bubble is on the page (CSS pixels, relative to the viewport). */
  domPosition(visId) {
    if (!this.nodesDs.get(visId)) return null;
    const pos = this.network.getPositions([visId])[visId];
    if (!pos) return null;
    const p = this.network.canvasToDOM(pos);
    const rect = this.network.body.container.getBoundingClientRect();
    return { x: rect.left + p.x, y: rect.top + p.y };
  }

  focus(visId) {
    if (!this.nodesDs.get(visId)) return;
    this.autoFit = false;
    this.network.selectNodes([visId], false);
    this.network.focus(visId, { scale: 1.1, animation: { duration: 400, easingFunction: 'easeInOutQuad' } });
  }

  fit() {
    this.autoFit = true;
    this.network.fit({ animation: { duration: 400, easingFunction: 'easeInOutQuad' } });
  }
}
