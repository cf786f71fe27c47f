// The app's one connection to spind: MQTT over websockets to the broker
// (mqtt.js's browser bundle, loaded as the global `mqtt`). Everything live
// arrives here, and commands leave as JSON-RPC 2.0 requests on
// <root>/jsonrpc/q, answered on <root>/jsonrpc/a (doc/control.md).

/** Connection states shown to the user. */
export const STATE = Object.freeze({
  CONNECTING: 'connecting',
  CONNECTED: 'connected',
  RECONNECTING: 'reconnecting',
  LOGIN_NEEDED: 'login needed',
  OFFLINE: 'offline',
});

/** A JSON-RPC error answer (or a transport failure: code 0). */
export class RpcError extends Error {
  constructor(message, code = 0, data = undefined) {
    super(message);
    this.code = code;
    this.data = data;
  }
}

const RPC_TIMEOUT_MS = 8000;

/**
 * Owns the mqtt.js client. Callbacks:
 * - onMessage(topic, text): every message on the subscribed topics, except
 *   JSON-RPC answers (handled here);
 * - onState(state, detail): connection state changes, with a reason;
 * - onConnect(): after every successful (re)connection and subscription.
 */
export class Link {
  constructor(params, { onMessage, onState, onConnect }) {
    this.params = params;
    this.root = params.topicRoot;
    this.onMessage = onMessage;
    this.onState = onState;
    this.onConnect = onConnect;
    this.client = null;
    this.state = STATE.OFFLINE;
    this.pending = new Map();
    this.nextId = 1;
    this.idPrefix = `web-${Math.random().toString(36).slice(2, 10)}-`;
    this.decoder = new TextDecoder('utf-8');
    this.credentials = null;
    this.attempts = 0;
    this.lastError = '';
  }

  /** The topics the app reads. */
  topics() {
    const r = this.root;
    return [`${r}/traffic`, `${r}/traffic/node/+`, `${r}/traffic/admin`, `${r}/jsonrpc/a`];
  }

  /** Connects (again), with credentials when the broker asked for them. */
  connect(credentials = this.credentials) {
    if (typeof window.mqtt === 'undefined') {
      this.setState(STATE.OFFLINE, 'the MQTT library (vendor/mqtt.min.js) did not load');
      return;
    }
    this.disconnect();
    this.credentials = credentials;
    this.attempts = 0;
    const opts = {
      clientId: `spin-web-${Math.random().toString(16).slice(2, 10)}`,
      clean: true,
      keepalive: 30,
      protocolVersion: 4,
      reconnectPeriod: 2000,
      connectTimeout: 8000,
      resubscribe: false, // subscribed again in on('connect') (clean session)
    };
    if (credentials) {
      opts.username = credentials.username;
      opts.password = credentials.password;
    }
    this.setState(STATE.CONNECTING, this.params.url());
    const client = window.mqtt.connect(this.params.url(), opts);
    this.client = client;
    client.on('connect', () => {
      if (client !== this.client) return;
      this.attempts = 0;
      client.subscribe(this.topics(), { qos: 0 }, (err) => {
        if (client !== this.client) return;
        if (err) {
          this.setState(STATE.RECONNECTING, `subscribe failed: ${err.message}`);
          return;
        }
        this.setState(STATE.CONNECTED, this.params.url());
        this.onConnect();
      });
    });
    client.on('reconnect', () => {
      if (client !== this.client) return;
      this.attempts++;
      const why = this.lastError ? ` (${this.lastError})` : '';
      this.setState(STATE.RECONNECTING, `attempt ${this.attempts}${why}`);
    });
    client.on('close', () => {
      if (client !== this.client) return;
      this.failPending('connection to the broker lost');
      if (this.state === STATE.CONNECTED) this.setState(STATE.RECONNECTING, 'connection lost');
    });
    client.on('offline', () => {
      if (client !== this.client || this.state === STATE.LOGIN_NEEDED) return;
      this.setState(STATE.RECONNECTING, this.lastError || 'broker not reachable');
    });
    client.on('error', (err) => {
      if (client !== this.client) return;
      this.lastError = err && err.message ? err.message : String(err);
      // CONNACK 4 (bad user name or password) or 5 (not authorised): the
      // broker wants credentials, or other ones; stop retrying until the
      // user gives them. The reason says which, never the password.
      if (err && (err.code === 4 || err.code === 5)) {
        client.end(true);
        const who = this.credentials
          ? `The broker did not accept the user name "${this.credentials.username}" with this password`
          : 'The broker needs a user name and password';
        this.setState(STATE.LOGIN_NEEDED, `${who} (${this.lastError}).`);
      }
    });
    client.on('message', (topic, payload) => {
      if (client !== this.client) return;
      const text = payload && payload.length ? this.decoder.decode(payload) : '';
      if (topic === `${this.root}/jsonrpc/a`) this.handleAnswer(text);
      else this.onMessage(topic, text);
    });
  }

  disconnect() {
    if (this.client) {
      const c = this.client;
      this.client = null;
      c.end(true);
    }
    this.failPending('disconnected');
  }

  setState(state, detail = '') {
    this.state = state;
    this.onState(state, detail);
  }

  /** Publishes a SPIN command on <root>/commands (replies come on traffic). */
  command(command, argument = '') {
    if (!this.client || this.state !== STATE.CONNECTED) return false;
    this.client.publish(`${this.root}/commands`, JSON.stringify({ command, argument }));
    return true;
  }

  /**
   * Calls a JSON-RPC method; resolves with its result, rejects with an
   * RpcError (the server's message, or why there was no answer).
   */
  rpc(method, params = {}, timeoutMs = RPC_TIMEOUT_MS) {
    return new Promise((resolve, reject) => {
      if (!this.client || this.state !== STATE.CONNECTED) {
        reject(new RpcError('not connected to the broker'));
        return;
      }
      const id = this.idPrefix + this.nextId++;
      const timer = window.setTimeout(() => {
        this.pending.delete(id);
        reject(new RpcError(`no answer from spind to ${method} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer, method });
      this.client.publish(`${this.root}/jsonrpc/q`,
        JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }

  handleAnswer(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return; // not ours to judge: other clients share the topic
    }
    if (!msg || typeof msg !== 'object') return;
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    window.clearTimeout(p.timer);
    if (msg.error) {
      const e = msg.error;
      p.reject(new RpcError(typeof e.message === 'string' ? e.message : 'error', e.code, e.data));
    } else {
      p.resolve(msg.result === undefined ? null : msg.result);
    }
  }

  failPending(why) {
    for (const [id, p] of this.pending) {
      window.clearTimeout(p.timer);
      p.reject(new RpcError(`${p.method}: ${why}`));
      this.pending.delete(id);
    }
  }
}
