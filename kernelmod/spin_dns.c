// SPDX-License-Identifier: GPL-2.0
/*
 * DNS answers and queries from UDP and TCP port-53 packets.
 *
 * The same discipline as spin's user-space parser: every read is checked
 * against the end of the message, compression pointers must point strictly
 * backwards (before the labels they continue), names stay within 255 octets,
 * RDLENGTH must fit the type, and any error rejects the whole message before
 * anything is reported. Work per message is bounded by fixed limits, done in
 * a per-CPU scratch area (the hook runs with BHs off), never on the heap.
 *
 * A response yields one DNS_ANSWER per (address, name): the owner of each
 * A/AAAA record and every name that leads to it through CNAME records of the
 * answer section, with the smallest TTL along the chain (the largest such
 * minimum when several chains lead there). A query yields one DNS_QUERY per
 * question of class IN. Names are sent in wire format, ASCII lower-cased.
 * DNS over TCP is read when a segment holds whole length-prefixed messages;
 * the kernel does not reassemble streams (such segments are counted).
 */
#include <linux/ctype.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/tcp.h>
#include <linux/udp.h>

#include "spin_internal.h"

#define SPIN_DNS_MSG_MAX	4096	/* larger messages are skipped */
#define SPIN_DNS_MAX_QUESTIONS	4
#define SPIN_DNS_MAX_ADDRS	32
#define SPIN_DNS_MAX_CNAMES	16
#define SPIN_DNS_MAX_JUMPS	128
#define SPIN_DNS_MAX_DEPTH	16
#define SPIN_DNS_TCP_MSGS	4
#define SPIN_DNS_HDR_LEN	12

#define SPIN_DNS_TYPE_A		1
#define SPIN_DNS_TYPE_CNAME	5
#define SPIN_DNS_TYPE_AAAA	28
#define SPIN_DNS_CLASS_IN	1

struct spin_dns_addr {
	u16 owner;
	u16 rdata;
	u32 ttl;
	u8 family;
};

struct spin_dns_cname {
	u16 owner;
	u16 target;
	u32 ttl;
};

struct spin_dns_scratch {
	u8 msg[SPIN_DNS_MSG_MAX];
	u8 name[SPIN_DNS_NAME_MAX];
	u16 questions[SPIN_DNS_MAX_QUESTIONS];
	struct spin_dns_addr addrs[SPIN_DNS_MAX_ADDRS];
	struct spin_dns_cname cnames[SPIN_DNS_MAX_CNAMES];
	u16 adj[SPIN_DNS_MAX_CNAMES];	/* bit j: target of i is owner of j */
	u16 same[SPIN_DNS_MAX_CNAMES];	/* bit j: owner of i is owner of j */
	s64 best[SPIN_DNS_MAX_CNAMES];
};

static DEFINE_PER_CPU(struct spin_dns_scratch *, spin_dns_scratch);

int spin_dns_scratch_alloc(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct spin_dns_scratch *s;

		s = kzalloc_node(sizeof(*s), GFP_KERNEL, cpu_to_node(cpu));
		if (!s) {
			spin_dns_scratch_free();
			return -ENOMEM;
		}
		per_cpu(spin_dns_scratch, cpu) = s;
	}
	return 0;
}

void spin_dns_scratch_free(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		kfree(per_cpu(spin_dns_scratch, cpu));
		per_cpu(spin_dns_scratch, cpu) = NULL;
	}
}

static u16 spin_get16(const u8 *p)
{
	return ((u16)p[0] << 8) | p[1];
}

/*
 * Checks the name at @off. Returns its wire length (root octet included,
 * 1..255) and sets *@next to the offset just past the name where it starts,
 * or returns -1 if it is malformed.
 */
static int spin_dns_name(const u8 *m, u32 len, u32 off, u32 *next)
{
	u32 pos = off, limit = off, total = 0;
	unsigned int jumps = 0;
	bool jumped = false;

	for (;;) {
		u8 c;

		if (pos >= len)
			return -1;
		c = m[pos];
		if ((c & 0xc0) == 0xc0) {
			u32 ptr;

			if (pos + 1 >= len)
				return -1;
			ptr = ((u32)(c & 0x3f) << 8) | m[pos + 1];
			if (ptr >= limit || ++jumps > SPIN_DNS_MAX_JUMPS)
				return -1;
			if (!jumped) {
				*next = pos + 2;
				jumped = true;
			}
			pos = ptr;
			limit = ptr;
			continue;
		}
		if (c & 0xc0)
			return -1;	/* 0x40 extended, 0x80 reserved */
		total += c + 1;
		if (total > SPIN_DNS_NAME_MAX)
			return -1;
		if (!c) {
			if (!jumped)
				*next = pos + 1;
			return total;
		}
		if (pos + 1 + c > len)
			return -1;
		pos += c + 1;
	}
}

/* Skips compression pointers of a checked name. */
static u32 spin_dns_deref(const u8 *m, u32 pos)
{
	unsigned int jumps = 0;

	while ((m[pos] & 0xc0) == 0xc0 && jumps++ <= SPIN_DNS_MAX_JUMPS)
		pos = ((u32)(m[pos] & 0x3f) << 8) | m[pos + 1];
	return pos;
}

/* Writes the checked name at @off uncompressed and lower-cased into @out
 * (room for 255 octets). Returns its length, root octet included. */
static unsigned int spin_dns_name_copy(const u8 *m, u32 off, u8 *out)
{
	unsigned int n = 0, i;
	u32 pos = off;

	for (;;) {
		u8 c;

		pos = spin_dns_deref(m, pos);
		c = m[pos];
		if (c & 0xc0 || n + c + 1 > SPIN_DNS_NAME_MAX) {
			out[0] = 0;	/* cannot happen for a checked name */
			return 1;
		}
		out[n++] = c;
		if (!c)
			return n;
		for (i = 1; i <= c; i++)
			out[n++] = tolower(m[pos + i]);
		pos += c + 1;
	}
}

/* Compares two checked names, ignoring ASCII case. */
static bool spin_dns_name_eq(const u8 *m, u32 a, u32 b)
{
	unsigned int labels = 0, i;

	for (;;) {
		u8 la, lb;

		a = spin_dns_deref(m, a);
		b = spin_dns_deref(m, b);
		if (a == b)
			return true;
		la = m[a];
		lb = m[b];
		if (la != lb || la & 0xc0)
			return false;
		if (!la)
			return true;
		for (i = 1; i <= la; i++)
			if (tolower(m[a + i]) != tolower(m[b + i]))
				return false;
		if (++labels > SPIN_DNS_NAME_MAX / 2)
			return false;
		a += la + 1;
		b += lb + 1;
	}
}

static void spin_dns_emit(struct spin_net *sn, struct spin_dns_scratch *s,
			  const u8 *m, u8 type, u8 family,
			  const struct in6_addr *addr, u32 ttl, u32 name_off)
{
	struct spin_stats *st = this_cpu_ptr(sn->stats);
	unsigned int n = spin_dns_name_copy(m, name_off, s->name);

	if (!spin_dns_append(sn, type, family, addr, ttl, s->name, n)) {
		st->dns_overflow++;
		return;
	}
	if (type == SPIN_MSG_DNS_ANSWER)
		st->dns_answers++;
	else
		st->dns_queries++;
}

/* best[i]: over the CNAME paths from the owner of cname i to the address
 * record @a, the largest smallest-TTL; -1 when no path of at most
 * SPIN_DNS_MAX_DEPTH hops leads there. */
static void spin_dns_chains(struct spin_dns_scratch *s, const u8 *m,
			    unsigned int nc, const struct spin_dns_addr *a)
{
	unsigned int i, j, round;
	bool changed;

	for (i = 0; i < nc; i++) {
		s->best[i] = -1;
		if (spin_dns_name_eq(m, s->cnames[i].target, a->owner))
			s->best[i] = min(s->cnames[i].ttl, a->ttl);
	}
	for (round = 1; round < SPIN_DNS_MAX_DEPTH; round++) {
		changed = false;
		for (i = 0; i < nc; i++) {
			for (j = 0; j < nc; j++) {
				s64 cand;

				if (!(s->adj[i] & BIT(j)) || s->best[j] < 0)
					continue;
				cand = min_t(s64, s->cnames[i].ttl, s->best[j]);
				if (cand > s->best[i]) {
					s->best[i] = cand;
					changed = true;
				}
			}
		}
		if (!changed)
			break;
	}
}

static void spin_dns_answers(struct spin_net *sn, struct spin_dns_scratch *s,
			     const u8 *m, unsigned int na, unsigned int nc)
{
	unsigned int a, i, j;
	struct in6_addr addr;

	for (i = 0; i < nc; i++) {
		s->adj[i] = 0;
		s->same[i] = 0;
		for (j = 0; j < nc; j++) {
			if (spin_dns_name_eq(m, s->cnames[i].target,
					     s->cnames[j].owner))
				s->adj[i] |= BIT(j);
			if (j != i && spin_dns_name_eq(m, s->cnames[i].owner,
						       s->cnames[j].owner))
				s->same[i] |= BIT(j);
		}
	}

	for (a = 0; a < na; a++) {
		const struct spin_dns_addr *ad = &s->addrs[a];

		memset(&addr, 0, sizeof(addr));
		if (ad->family == SPIN_AF_INET)
			memcpy(&addr.s6_addr[12], m + ad->rdata, 4);
		else
			memcpy(&addr, m + ad->rdata, 16);
		spin_dns_emit(sn, s, m, SPIN_MSG_DNS_ANSWER, ad->family, &addr,
			      ad->ttl, ad->owner);
		if (!nc)
			continue;
		/* Records of one owner usually come together: reuse. */
		if (!a || ad->ttl != s->addrs[a - 1].ttl ||
		    !spin_dns_name_eq(m, ad->owner, s->addrs[a - 1].owner))
			spin_dns_chains(s, m, nc, ad);
		for (i = 0; i < nc; i++) {
			bool skip = false;

			if (s->best[i] < 0)
				continue;
			/* One record per name: the best of equal owners. */
			for (j = 0; j < nc && !skip; j++)
				if ((s->same[i] & BIT(j)) && s->best[j] >= 0 &&
				    (s->best[j] > s->best[i] ||
				     (s->best[j] == s->best[i] && j < i)))
					skip = true;
			if (skip || spin_dns_name_eq(m, s->cnames[i].owner,
						     ad->owner))
				continue;
			spin_dns_emit(sn, s, m, SPIN_MSG_DNS_ANSWER, ad->family,
				      &addr, (u32)s->best[i], s->cnames[i].owner);
		}
	}
}

/* Parses one message and queues its records; nothing is queued when any
 * part of it is malformed. */
static void spin_dns_message(struct spin_net *sn, struct spin_dns_scratch *s,
			     const u8 *m, u32 len, const struct spin_pkt *p,
			     bool report_query)
{
	struct spin_stats *st = this_cpu_ptr(sn->stats);
	unsigned int nq = 0, na = 0, nc = 0, i;
	u16 flags, qdcount, ancount;
	u32 pos, next;
	bool qr;

	if (len < SPIN_DNS_HDR_LEN)
		goto err;
	flags = spin_get16(m + 2);
	qr = flags & 0x8000;
	if ((flags >> 11) & 0xf)
		goto err;	/* not a QUERY opcode */
	/* QR must agree with the ports (both 53: QR decides). */
	if ((qr && p->sport != htons(53)) || (!qr && p->dport != htons(53)))
		goto err;
	qdcount = spin_get16(m + 4);
	ancount = spin_get16(m + 6);
	if ((u32)qdcount * 5 + (u32)ancount * 11 > len - SPIN_DNS_HDR_LEN)
		goto err;

	pos = SPIN_DNS_HDR_LEN;
	for (i = 0; i < qdcount; i++) {
		if (spin_dns_name(m, len, pos, &next) < 0 || next + 4 > len)
			goto err;
		if (nq < SPIN_DNS_MAX_QUESTIONS &&
		    spin_get16(m + next + 2) == SPIN_DNS_CLASS_IN)
			s->questions[nq++] = pos;
		pos = next + 4;
	}

	if (!qr) {
		if (!report_query)
			return;
		for (i = 0; i < nq; i++)
			spin_dns_emit(sn, s, m, SPIN_MSG_DNS_QUERY, p->family,
				      &p->src, 0, s->questions[i]);
		return;
	}

	for (i = 0; i < ancount; i++) {
		u32 owner = pos, rdata, ttl, tnext;
		u16 type, class, rdlen;

		if (spin_dns_name(m, len, pos, &next) < 0 || next + 10 > len)
			goto err;
		type = spin_get16(m + next);
		class = spin_get16(m + next + 2);
		ttl = spin_get_be32(m + next + 4);
		rdlen = spin_get16(m + next + 8);
		rdata = next + 10;
		if (rdata + rdlen > len)
			goto err;
		if (ttl & 0x80000000)
			ttl = 0;	/* RFC 2181 8 */
		pos = rdata + rdlen;
		if (class != SPIN_DNS_CLASS_IN)
			continue;
		if (type == SPIN_DNS_TYPE_A || type == SPIN_DNS_TYPE_AAAA) {
			if (rdlen != (type == SPIN_DNS_TYPE_A ? 4 : 16))
				goto err;
			if (na == SPIN_DNS_MAX_ADDRS) {
				st->answers_overflow++;
				continue;
			}
			s->addrs[na].owner = owner;
			s->addrs[na].rdata = rdata;
			s->addrs[na].ttl = ttl;
			s->addrs[na].family = type == SPIN_DNS_TYPE_A ?
					      SPIN_AF_INET : SPIN_AF_INET6;
			na++;
		} else if (type == SPIN_DNS_TYPE_CNAME) {
			if (spin_dns_name(m, len, rdata, &tnext) < 0 ||
			    tnext != rdata + rdlen)
				goto err;
			if (nc == SPIN_DNS_MAX_CNAMES) {
				st->answers_overflow++;
				continue;
			}
			s->cnames[nc].owner = owner;
			s->cnames[nc].target = rdata;
			s->cnames[nc].ttl = ttl;
			nc++;
		}
	}
	spin_dns_answers(sn, s, m, na, nc);
	return;
err:
	st->dns_errors++;
}

/* Called by the hook, BHs off, for UDP/TCP packets from or to port 53. */
void spin_dns_packet(struct spin_net *sn, struct sk_buff *skb,
		     const struct spin_pkt *p, bool report_query)
{
	struct spin_dns_scratch *s = this_cpu_read(spin_dns_scratch);
	struct spin_stats *st = this_cpu_ptr(sn->stats);
	u32 off = p->l4off + p->l4hlen, end = p->end, mlen;
	const u8 *data;
	unsigned int k;

	st->dns_packets++;
	if (!s || off >= end)
		return;
	if (skb_is_gso(skb)) {
		st->dns_skipped++;
		return;
	}

	if (p->proto == IPPROTO_UDP) {
		const struct udphdr *uh;
		struct udphdr _uh;
		u32 ulen;

		uh = skb_header_pointer(skb, p->l4off, sizeof(_uh), &_uh);
		if (!uh)
			return;
		ulen = ntohs(uh->len);
		if (ulen >= sizeof(*uh) && p->l4off + ulen < end)
			end = p->l4off + ulen;
		mlen = end - off;
		if (mlen > SPIN_DNS_MSG_MAX) {
			st->dns_skipped++;
			return;
		}
		data = skb_header_pointer(skb, off, mlen, s->msg);
		if (data)
			spin_dns_message(sn, s, data, mlen, p, report_query);
		return;
	}

	/* TCP: whole length-prefixed messages in this segment. */
	for (k = 0; k < SPIN_DNS_TCP_MSGS && off + 2 <= end; k++) {
		u8 _l[2];
		const u8 *l;

		l = skb_header_pointer(skb, off, 2, _l);
		if (!l)
			return;
		mlen = spin_get16(l);
		if (!mlen || mlen > end - off - 2) {
			st->dns_skipped++;
			return;
		}
		off += 2;
		if (mlen > SPIN_DNS_MSG_MAX) {
			st->dns_skipped++;
		} else {
			data = skb_header_pointer(skb, off, mlen, s->msg);
			if (!data)
				return;
			spin_dns_message(sn, s, data, mlen, p, report_query);
		}
		off += mlen;
	}
}
