// Service names for destination ports, for edge labels. spind reports the
// service port of a flow (the lower port of the connection); for ICMP the
// "port" is type * 256 + code (doc/mqtt.md).

const TCP = new Map([
  [20, 'ftp-data'], [21, 'ftp'], [22, 'ssh'], [23, 'telnet'], [25, 'smtp'],
  [53, 'dns'], [80, 'http'], [110, 'pop3'], [119, 'nntp'], [143, 'imap'],
  [179, 'bgp'], [389, 'ldap'], [443, 'https'], [445, 'smb'], [465, 'smtps'],
  [554, 'rtsp'], [587, 'submission'], [631, 'ipp'], [636, 'ldaps'],
  [853, 'dns-tls'], [993, 'imaps'], [995, 'pop3s'], [1080, 'socks'],
  [1723, 'pptp'], [1883, 'mqtt'], [3000, 'http-dev'], [3306, 'mysql'],
  [3389, 'rdp'], [5222, 'xmpp'], [5223, 'apns'], [5228, 'fcm'],
  [5432, 'postgres'], [5900, 'vnc'], [6881, 'bittorrent'], [7000, 'airplay'],
  [8008, 'http-alt'], [8009, 'cast'], [8080, 'http-alt'], [8443, 'https-alt'],
  [8883, 'mqtts'], [9000, 'http-alt'], [32400, 'plex'],
]);

const UDP = new Map([
  [53, 'dns'], [67, 'dhcp'], [68, 'dhcp'], [69, 'tftp'], [123, 'ntp'],
  [137, 'netbios'], [138, 'netbios'], [161, 'snmp'], [443, 'quic'],
  [500, 'ipsec'], [514, 'syslog'], [546, 'dhcpv6'], [547, 'dhcpv6'],
  [853, 'dns-quic'], [1194, 'openvpn'], [1900, 'ssdp'], [3478, 'stun'],
  [3479, 'stun'], [4500, 'ipsec-nat'], [5060, 'sip'], [5353, 'mdns'],
  [5355, 'llmnr'], [51820, 'wireguard'],
]);

const ICMP4 = new Map([[0, 'ping reply'], [2048, 'ping'], [768, 'unreachable'], [2816, 'ttl exceeded']]);
const ICMP6 = new Map([[32768, 'ping6'], [33024, 'ping6 reply'], [33280, 'mld'], [34048, 'router sol'],
  [34304, 'router adv'], [34560, 'neighbour sol'], [34816, 'neighbour adv']]);

const PROTOCOLS = new Map([[1, 'icmp'], [2, 'igmp'], [6, 'tcp'], [17, 'udp'], [47, 'gre'],
  [50, 'esp'], [51, 'ah'], [58, 'icmpv6'], [132, 'sctp']]);

/**
 * The name of a flow's service: "https", "quic", "ping", or "tcp/8123" when
 * the port is not known. `protocol` may be missing (older SPIN messages):
 * then TCP names are tried first.
 */
export function serviceName(protocol, port) {
  port = Number(port);
  if (!Number.isFinite(port)) port = 0;
  if (protocol === 1) return ICMP4.get(port) || 'icmp';
  if (protocol === 58) return ICMP6.get(port) || 'icmpv6';
  if (protocol === 6) return TCP.get(port) || (port ? `tcp/${port}` : 'tcp');
  if (protocol === 17) return UDP.get(port) || (port ? `udp/${port}` : 'udp');
  if (protocol === undefined || protocol === null) {
    return TCP.get(port) || UDP.get(port) || (port ? `port ${port}` : 'ip');
  }
  const name = PROTOCOLS.get(protocol) || `proto ${protocol}`;
  return port ? `${name}/${port}` : name;
}
