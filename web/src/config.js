// Where the app connects (from the page's URL) and the user's settings (kept
// in localStorage).

/**
 * Connection parameters from the page URL:
 * - `topic_root` (default SPIN; e.g. house2/SPIN),
 * - `mqtt_host` (default: the page's host), `mqtt_port` (default 1884, the
 *   broker's websockets listener), `mqtt_path` (default /mqtt),
 * - wss when the page itself is https (a browser refuses ws from https).
 */
export function readParams(loc = window.location) {
  const q = new URLSearchParams(loc.search);
  const secure = loc.protocol === 'https:';
  const root = (q.get('topic_root') || 'SPIN').trim().replace(/^\/+|\/+$/g, '');
  const port = Number.parseInt(q.get('mqtt_port') || '', 10);
  let host = (q.get('mqtt_host') || loc.hostname || '127.0.0.1').trim();
  if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`; // IPv6 literal
  let path = q.get('mqtt_path') || '/mqtt';
  if (!path.startsWith('/')) path = `/${path}`;
  return {
    topicRoot: root || 'SPIN',
    mqttHost: host,
    mqttPort: port > 0 && port < 65536 ? port : 1884,
    secure,
    url() {
      return `${secure ? 'wss' : 'ws'}://${this.mqttHost}:${this.mqttPort}${path}`;
    },
  };
}

/** What the user can change in the settings panel, with defaults. */
export const DEFAULT_SETTINGS = Object.freeze({
  /** Seconds without traffic after which a node is drawn faded. */
  fadeAfter: 30,
  /** Seconds without traffic after which a node leaves the picture. */
  removeAfter: 600,
  /** Peers of one device drawn one by one; the rest are grouped. */
  maxPeers: 12,
  /** Most bubbles drawn in all (then every device gets fewer separate peers). */
  maxBubbles: 600,
  /** Service names on the edges. */
  edgeLabels: true,
  /** Keep the layout moving (off: bubbles stay where they are). */
  physics: true,
});

const KEY = 'spin.settings.v1';

/** Reads the saved settings, each value checked against its default's type. */
export function loadSettings() {
  const out = { ...DEFAULT_SETTINGS };
  try {
    const saved = JSON.parse(window.localStorage.getItem(KEY) || '{}');
    for (const [k, v] of Object.entries(saved)) {
      if (k in DEFAULT_SETTINGS && typeof v === typeof DEFAULT_SETTINGS[k]) out[k] = v;
    }
  } catch {
    // Private mode or a corrupt entry: the defaults.
  }
  return sanitize(out);
}

/** Saves settings (silently does nothing when storage is not available). */
export function saveSettings(settings) {
  try {
    window.localStorage.setItem(KEY, JSON.stringify(sanitize(settings)));
  } catch {
    // nothing to do: the settings still apply to this page
  }
}

/** Clamps numbers into ranges that keep the app usable. */
export function sanitize(s) {
  const clamp = (v, lo, hi, d) => (Number.isFinite(v) ? Math.min(hi, Math.max(lo, Math.round(v))) : d);
  return {
    fadeAfter: clamp(s.fadeAfter, 1, 86400, DEFAULT_SETTINGS.fadeAfter),
    removeAfter: clamp(s.removeAfter, 5, 7 * 86400, DEFAULT_SETTINGS.removeAfter),
    maxPeers: clamp(s.maxPeers, 1, 500, DEFAULT_SETTINGS.maxPeers),
    maxBubbles: clamp(s.maxBubbles, 50, 5000, DEFAULT_SETTINGS.maxBubbles),
    edgeLabels: Boolean(s.edgeLabels),
    physics: Boolean(s.physics),
  };
}
