// spind's REST API on the page's own origin (../shared/reference s.3,
// doc/web_api.md): devices, profiles, notifications, captures. The app must
// also work where there is no HTTP API (the page served by any web server):
// every call resolves to {ok, status, data, error}, and a 404 or a network
// failure reads as "not available", shown as such.

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/** True when the error means "this server has no such API" (not a real failure). */
export function unavailable(err) {
  return err instanceof ApiError && (err.status === 404 || err.status === 0 || err.status === 405 || err.status === 501);
}

async function call(method, path, body) {
  let res;
  try {
    const init = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin' };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(`${path}: ${e.message || 'network error'}`, 0);
  }
  let data = null;
  const text = await res.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const msg = data && typeof data.error === 'string' ? data.error : `${res.status} ${res.statusText}`;
    throw new ApiError(`${path}: ${msg}`, res.status);
  }
  if (data === null && text) throw new ApiError(`${path}: the answer is not JSON`, res.status);
  return data;
}

const enc = encodeURIComponent;

export const api = {
  /** MAC -> {mac, name, lastSeen, appliedProfiles[], new, enforcement, logging} */
  devices: () => call('GET', '/spin_api/devices'),
  profiles: () => call('GET', '/spin_api/profiles'),
  notifications: () => call('GET', '/spin_api/notifications'),
  setProfile: (mac, profileId) =>
    call('POST', `/spin_api/devices/${enc(mac)}/appliedProfiles`, { profile_id: profileId }),
  toggleNew: (mac) => call('POST', `/spin_api/devices/${enc(mac)}/toggleNew`, {}),
  deleteNotification: (id) => call('POST', `/spin_api/notifications/${enc(id)}/delete`, {}),
  captureStatus: (mac) => call('GET', `/spin_api/tcpdump_status?device=${enc(mac)}`),
  /** The link that streams a device's live capture as a pcap download. */
  captureUrl: (mac) => `/spin_api/tcpdump?device=${enc(mac)}`,
};
