// Registered domains ("eTLD+1") without the public suffix list: good enough
// to group a device's many small peers ("cdn.example.co.uk" and
// "img.example.co.uk" both under "example.co.uk"). Second-level labels that
// act as public suffixes under a country code are recognised by a short list.

const SECOND_LEVEL = new Set(['co', 'com', 'net', 'org', 'gov', 'edu', 'ac', 'or', 'ne', 'go',
  'gob', 'mil', 'nic', 'ltd', 'plc', 'sch', 'nhs', 'police', 'asn', 'id', 'web', 'info']);

/** "a.b.example.co.uk" -> "example.co.uk"; "" when there is no name. */
export function registeredDomain(name) {
  if (!name) return '';
  const labels = String(name).toLowerCase().replace(/\.$/, '').split('.').filter(Boolean);
  if (labels.length <= 2) return labels.join('.');
  const tld = labels[labels.length - 1];
  const sld = labels[labels.length - 2];
  const take = tld.length === 2 && SECOND_LEVEL.has(sld) ? 3 : 2;
  return labels.slice(-take).join('.');
}
