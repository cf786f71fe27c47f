/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * spin_netlink.h - the SPIN netlink protocol, version 1: the wire format
 * spoken between spin.ko and user space.
 *
 * One header for both sides: the kernel module includes it with __KERNEL__
 * defined, user space (C or C++) without; it has no other dependency than
 * the fixed-width integer types and memcpy/memset.
 *
 * Two netlink protocol numbers (not ports):
 *
 *   SPIN_NETLINK_CONFIG (30)   commands and their responses
 *   SPIN_NETLINK_TRAFFIC (31)  per-second traffic, blocked and DNS records
 *
 * Every message carries a standard 16-byte struct nlmsghdr; the payload
 * formats follow. Multi-byte integers in payloads are big-endian. One
 * datagram from the module may carry several netlink messages back to back:
 * readers must walk all of them (libmnl's mnl_cb_run does, because every
 * message the module sends has nlmsg_type SPIN_NLMSG_TYPE, a data type).
 *
 * Traffic channel (protocol 31): a process with CAP_NET_ADMIN registers by
 * sending any message (content ignored; old clients send "Hello!"); every
 * later message is a keepalive ("ping"). The module answers a registration
 * it refuses with a netlink error (NLMSG_ERROR: -EPERM without CAP_NET_ADMIN,
 * -ENOSPC when all listener slots are taken) and never sends anything else
 * in reply. A listener stays registered until its socket is closed. Records
 * are sent once a second (earlier when a table fills), DNS records first.
 * Each message is a 4-byte header then data:
 *
 *   byte 0     protocol version (SPIN_PROTOCOL_VERSION)
 *   byte 1     type (enum spin_msg_type)
 *   bytes 2-3  size of the data that follows, big-endian
 *
 * Configuration channel (protocol 30): a command is one netlink message,
 * [version][command][family][address]; the module answers with one netlink
 * message per response, [version][response][data], one per datagram (as
 * old clients expect), and SPIN_RESP_END is always the last one, also after
 * an error or a bad version byte. Responses echo the command's nlmsg_seq.
 * Every command needs CAP_NET_ADMIN.
 */
#ifndef SPIN_NETLINK_H
#define SPIN_NETLINK_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/string.h>
#else
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#endif

/* Netlink protocol numbers (socket(AF_NETLINK, SOCK_RAW, <number>)). */
#define SPIN_NETLINK_CONFIG	30
#define SPIN_NETLINK_TRAFFIC	31

/* The protocol version this header describes (byte 0 of every payload). */
#define SPIN_PROTOCOL_VERSION	1

/*
 * nlmsg_type of every message the module sends (NLMSG_MIN_TYPE, the first
 * data type). The module ignores the type of messages it receives. The
 * original module sent NLMSG_DONE (3); a reader that wants to read both
 * should not filter on the type.
 */
#define SPIN_NLMSG_TYPE		0x10

/* Address families on the wire (the Linux values of AF_INET, AF_INET6). */
#define SPIN_AF_INET		2
#define SPIN_AF_INET6		10

/* Addresses are always 16 bytes on the traffic channel: IPv4 is 12 zero
 * bytes then the 4 address bytes (not ::ffff:a.b.c.d). */
#define SPIN_ADDR_LEN		16

/* ------------------------------------------------------------------------
 * Traffic channel (protocol 31)
 */

enum spin_msg_type {
	SPIN_MSG_TRAFFIC = 1,		/* struct spin_flow_record */
	SPIN_MSG_DNS_ANSWER = 2,	/* struct spin_dns_record, an A/AAAA answer */
	SPIN_MSG_BLOCKED = 3,		/* struct spin_flow_record, dropped packets */
	SPIN_MSG_DNS_QUERY = 4,		/* struct spin_dns_record, a question asked */
	SPIN_MSG_ERR_BADVERSION = 250,	/* no data; unused by the v1 module */
};

/* Size of the message header (version, type, data size). */
#define SPIN_MSG_HDR_LEN	4

/* TRAFFIC and BLOCKED data: 46 bytes. Offsets into the data: */
#define SPIN_FLOW_DATA_LEN	46
#define SPIN_FLOW_OFF_FAMILY	0	/* u8 */
#define SPIN_FLOW_OFF_PROTO	1	/* u8, IP protocol number */
#define SPIN_FLOW_OFF_SRC	2	/* 16 bytes */
#define SPIN_FLOW_OFF_DST	18	/* 16 bytes */
#define SPIN_FLOW_OFF_SPORT	34	/* be16, 0 when the protocol has none */
#define SPIN_FLOW_OFF_DPORT	36	/* be16 */
#define SPIN_FLOW_OFF_PACKETS	38	/* be16, packets in this interval */
#define SPIN_FLOW_OFF_BYTES	40	/* be32, IP-layer bytes (IP total length) */
#define SPIN_FLOW_OFF_PAYLOAD	44	/* be16, L4 payload offset, first packet */

/* DNS_ANSWER and DNS_QUERY data: 22 bytes then the name. */
#define SPIN_DNS_FIXED_LEN	22
#define SPIN_DNS_OFF_FAMILY	0	/* u8 */
#define SPIN_DNS_OFF_ADDR	1	/* 16 bytes: answer value, or the client */
#define SPIN_DNS_OFF_TTL	17	/* be32, 0 for queries */
#define SPIN_DNS_OFF_NAME_LEN	21	/* u8, name length including its 0 byte */
#define SPIN_DNS_OFF_NAME	22	/* name in DNS wire format, uncompressed */

/* Longest name in wire format, root (zero) octet included (RFC 1035). */
#define SPIN_DNS_NAME_MAX	255

/* Longest traffic-channel message payload (header + data). */
#define SPIN_MSG_MAX_LEN \
	(SPIN_MSG_HDR_LEN + SPIN_DNS_FIXED_LEN + SPIN_DNS_NAME_MAX)

/* ------------------------------------------------------------------------
 * Configuration channel (protocol 30)
 */

enum spin_cmd {
	SPIN_CMD_GET_IGNORE = 1,
	SPIN_CMD_ADD_IGNORE = 2,
	SPIN_CMD_REMOVE_IGNORE = 3,
	SPIN_CMD_CLEAR_IGNORE = 4,
	SPIN_CMD_GET_BLOCK = 5,
	SPIN_CMD_ADD_BLOCK = 6,
	SPIN_CMD_REMOVE_BLOCK = 7,
	SPIN_CMD_CLEAR_BLOCK = 8,
	SPIN_CMD_GET_EXCEPT = 9,
	SPIN_CMD_ADD_EXCEPT = 10,
	SPIN_CMD_REMOVE_EXCEPT = 11,
	SPIN_CMD_CLEAR_EXCEPT = 12,
};

enum spin_resp {
	SPIN_RESP_IP = 100,	/* data: family byte + 4 or 16 address bytes */
	SPIN_RESP_END = 200,	/* no data; always the last response */
	SPIN_RESP_ERR = 250,	/* data: error text, no terminating zero */
};

/* Command: [version][command], then for ADD/REMOVE [family][4|16 bytes]. */
#define SPIN_CMD_HDR_LEN	2
#define SPIN_CMD_MAX_LEN	(SPIN_CMD_HDR_LEN + 1 + 16)
/* Response: [version][response] then data. */
#define SPIN_RESP_HDR_LEN	2

/* ------------------------------------------------------------------------
 * Helpers. Unpacked forms use host byte order; they are not wire layouts.
 */

/* A TRAFFIC or BLOCKED record. */
struct spin_flow_record {
	uint8_t family;			/* SPIN_AF_INET or SPIN_AF_INET6 */
	uint8_t proto;			/* IP protocol number */
	uint8_t src[SPIN_ADDR_LEN];
	uint8_t dst[SPIN_ADDR_LEN];
	uint16_t sport;
	uint16_t dport;
	uint16_t packets;
	uint16_t payload_offset;
	uint32_t bytes;
};

/* A DNS_ANSWER or DNS_QUERY record. */
struct spin_dns_record {
	uint8_t family;
	uint8_t addr[SPIN_ADDR_LEN];
	uint32_t ttl;
	uint8_t name_len;		/* bytes of name used, 0 byte included */
	uint8_t name[SPIN_DNS_NAME_MAX];
};

static inline uint16_t spin_get_be16(const uint8_t *p)
{
	return (uint16_t)(((unsigned int)p[0] << 8) | p[1]);
}

static inline uint32_t spin_get_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline void spin_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void spin_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Bytes of an address of @family in commands and IP responses; 0 if the
 * family is unknown. */
static inline unsigned int spin_addr_len(uint8_t family)
{
	if (family == SPIN_AF_INET)
		return 4;
	if (family == SPIN_AF_INET6)
		return 16;
	return 0;
}

/*
 * Reads a traffic-channel message header from a netlink payload of @len
 * bytes. Returns 0 and fills the out parameters, or -1 when the payload is
 * shorter than the header or than the size it announces.
 */
static inline int spin_msg_unpack_header(const uint8_t *p, size_t len,
					 uint8_t *version, uint8_t *type,
					 uint16_t *size)
{
	uint16_t sz;

	if (len < SPIN_MSG_HDR_LEN)
		return -1;
	sz = spin_get_be16(p + 2);
	if ((size_t)sz > len - SPIN_MSG_HDR_LEN)
		return -1;
	*version = p[0];
	*type = p[1];
	*size = sz;
	return 0;
}

static inline void spin_msg_pack_header(uint8_t *p, uint8_t type,
					uint16_t size)
{
	p[0] = SPIN_PROTOCOL_VERSION;
	p[1] = type;
	spin_put_be16(p + 2, size);
}

/*
 * Writes a whole TRAFFIC or BLOCKED message (header and data, 50 bytes) to
 * @p, which must have room for SPIN_MSG_HDR_LEN + SPIN_FLOW_DATA_LEN bytes.
 * Returns the bytes written.
 */
static inline size_t spin_flow_pack(uint8_t *p, uint8_t type,
				    const struct spin_flow_record *r)
{
	uint8_t *d = p + SPIN_MSG_HDR_LEN;

	spin_msg_pack_header(p, type, SPIN_FLOW_DATA_LEN);
	d[SPIN_FLOW_OFF_FAMILY] = r->family;
	d[SPIN_FLOW_OFF_PROTO] = r->proto;
	memcpy(d + SPIN_FLOW_OFF_SRC, r->src, SPIN_ADDR_LEN);
	memcpy(d + SPIN_FLOW_OFF_DST, r->dst, SPIN_ADDR_LEN);
	spin_put_be16(d + SPIN_FLOW_OFF_SPORT, r->sport);
	spin_put_be16(d + SPIN_FLOW_OFF_DPORT, r->dport);
	spin_put_be16(d + SPIN_FLOW_OFF_PACKETS, r->packets);
	spin_put_be32(d + SPIN_FLOW_OFF_BYTES, r->bytes);
	spin_put_be16(d + SPIN_FLOW_OFF_PAYLOAD, r->payload_offset);
	return SPIN_MSG_HDR_LEN + SPIN_FLOW_DATA_LEN;
}

/*
 * Reads TRAFFIC or BLOCKED data (@d, @len bytes: what follows the message
 * header, @len being its size field). Returns 0, or -1 if too short.
 */
static inline int spin_flow_unpack(const uint8_t *d, size_t len,
				   struct spin_flow_record *r)
{
	if (len < SPIN_FLOW_DATA_LEN)
		return -1;
	r->family = d[SPIN_FLOW_OFF_FAMILY];
	r->proto = d[SPIN_FLOW_OFF_PROTO];
	memcpy(r->src, d + SPIN_FLOW_OFF_SRC, SPIN_ADDR_LEN);
	memcpy(r->dst, d + SPIN_FLOW_OFF_DST, SPIN_ADDR_LEN);
	r->sport = spin_get_be16(d + SPIN_FLOW_OFF_SPORT);
	r->dport = spin_get_be16(d + SPIN_FLOW_OFF_DPORT);
	r->packets = spin_get_be16(d + SPIN_FLOW_OFF_PACKETS);
	r->bytes = spin_get_be32(d + SPIN_FLOW_OFF_BYTES);
	r->payload_offset = spin_get_be16(d + SPIN_FLOW_OFF_PAYLOAD);
	return 0;
}

/*
 * Writes a whole DNS_ANSWER or DNS_QUERY message to @p, which must have room
 * for SPIN_MSG_MAX_LEN bytes. Returns the bytes written, or 0 if
 * r->name_len is 0 (it cannot exceed SPIN_DNS_NAME_MAX, 255).
 */
static inline size_t spin_dns_pack(uint8_t *p, uint8_t type,
				   const struct spin_dns_record *r)
{
	uint8_t *d = p + SPIN_MSG_HDR_LEN;

	if (r->name_len == 0)
		return 0;
	spin_msg_pack_header(p, type,
			     (uint16_t)(SPIN_DNS_FIXED_LEN + r->name_len));
	d[SPIN_DNS_OFF_FAMILY] = r->family;
	memcpy(d + SPIN_DNS_OFF_ADDR, r->addr, SPIN_ADDR_LEN);
	spin_put_be32(d + SPIN_DNS_OFF_TTL, r->ttl);
	d[SPIN_DNS_OFF_NAME_LEN] = r->name_len;
	memcpy(d + SPIN_DNS_OFF_NAME, r->name, r->name_len);
	return SPIN_MSG_HDR_LEN + SPIN_DNS_FIXED_LEN + r->name_len;
}

/*
 * Reads DNS_ANSWER or DNS_QUERY data (@d, @len bytes after the header).
 * Checks that the name fits the data and is a well-formed uncompressed wire
 * name (labels of 1-63 bytes ending with the zero byte exactly at name_len).
 * Returns 0, or -1 on any violation.
 */
static inline int spin_dns_unpack(const uint8_t *d, size_t len,
				  struct spin_dns_record *r)
{
	unsigned int n, pos = 0;

	if (len < SPIN_DNS_FIXED_LEN)
		return -1;
	n = d[SPIN_DNS_OFF_NAME_LEN];
	if (n == 0 || (size_t)n > len - SPIN_DNS_FIXED_LEN)
		return -1;
	while (pos < n) {
		unsigned int l = d[SPIN_DNS_OFF_NAME + pos];

		if (l == 0)
			break;
		if (l > 63)
			return -1;
		pos += l + 1;
	}
	if (pos != n - 1)
		return -1;
	r->family = d[SPIN_DNS_OFF_FAMILY];
	memcpy(r->addr, d + SPIN_DNS_OFF_ADDR, SPIN_ADDR_LEN);
	r->ttl = spin_get_be32(d + SPIN_DNS_OFF_TTL);
	r->name_len = (uint8_t)n;
	memcpy(r->name, d + SPIN_DNS_OFF_NAME, n);
	return 0;
}

/*
 * Writes a command to @p (room for SPIN_CMD_MAX_LEN bytes). @addr (4 or 16
 * bytes by @family) is used only by ADD and REMOVE commands. Returns the
 * bytes written, or 0 for an ADD/REMOVE with an unknown family.
 */
static inline size_t spin_cmd_pack(uint8_t *p, uint8_t cmd, uint8_t family,
				   const uint8_t *addr)
{
	unsigned int alen;

	p[0] = SPIN_PROTOCOL_VERSION;
	p[1] = cmd;
	switch (cmd) {
	case SPIN_CMD_ADD_IGNORE: case SPIN_CMD_REMOVE_IGNORE:
	case SPIN_CMD_ADD_BLOCK: case SPIN_CMD_REMOVE_BLOCK:
	case SPIN_CMD_ADD_EXCEPT: case SPIN_CMD_REMOVE_EXCEPT:
		alen = spin_addr_len(family);
		if (alen == 0)
			return 0;
		p[2] = family;
		memcpy(p + 3, addr, alen);
		return SPIN_CMD_HDR_LEN + 1 + alen;
	default:
		return SPIN_CMD_HDR_LEN;
	}
}

/*
 * Splits a response payload (@len bytes) into its type and data. Returns 0,
 * or -1 when shorter than the response header.
 */
static inline int spin_resp_unpack(const uint8_t *p, size_t len,
				   uint8_t *version, uint8_t *resp,
				   const uint8_t **data, size_t *dlen)
{
	if (len < SPIN_RESP_HDR_LEN)
		return -1;
	*version = p[0];
	*resp = p[1];
	*data = p + SPIN_RESP_HDR_LEN;
	*dlen = len - SPIN_RESP_HDR_LEN;
	return 0;
}

#endif /* SPIN_NETLINK_H */
