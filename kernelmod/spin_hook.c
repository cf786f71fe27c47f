// SPDX-License-Identifier: GPL-2.0
/*
 * The packet path: netfilter hooks that parse IPv4/IPv6 (with extension
 * headers), apply the block/except/ignore verdict, count the packet in the
 * CPU's flow table and hand port-53 packets to the DNS parser. Nothing here
 * sleeps, allocates or sends: the flush worker does that.
 */
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/jhash.h>
#include <net/ip.h>
#include <net/ipv6.h>

#include "spin_internal.h"

/* What a hook does: everything, or only DNS (the router's own port-53
 * traffic in forward mode, so names answered by a local resolver are seen). */
enum spin_role {
	SPIN_ROLE_FULL = 1,
	SPIN_ROLE_DNS = 2,
};

/* After the filter tables, so a packet another rule drops first is not
 * counted as traffic. */
#define SPIN_HOOK_PRIORITY (NF_IP_PRI_FILTER + 1)

struct nf_hook_ops spin_hook_ops[6];
unsigned int spin_hook_nops;

static bool spin_parse_l4(const struct sk_buff *skb, struct spin_pkt *p)
{
	if (p->later_frag)
		return true;
	switch (p->proto) {
	case IPPROTO_TCP: {
		struct tcphdr _th;
		const struct tcphdr *th;

		th = skb_header_pointer(skb, p->l4off, sizeof(_th), &_th);
		if (!th || th->doff < 5)
			return false;
		p->sport = th->source;
		p->dport = th->dest;
		p->has_ports = true;
		p->l4hlen = th->doff * 4;
		break;
	}
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE: {
		struct udphdr _uh;
		const struct udphdr *uh;

		uh = skb_header_pointer(skb, p->l4off, sizeof(_uh), &_uh);
		if (!uh)
			return false;
		p->sport = uh->source;
		p->dport = uh->dest;
		p->has_ports = true;
		p->l4hlen = sizeof(struct udphdr);
		break;
	}
	case IPPROTO_SCTP:
	case IPPROTO_DCCP: {
		__be16 _ports[2];
		const __be16 *ports;

		ports = skb_header_pointer(skb, p->l4off, sizeof(_ports),
					   _ports);
		if (!ports)
			return false;
		p->sport = ports[0];
		p->dport = ports[1];
		p->has_ports = true;
		break;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		p->l4hlen = 8;
		break;
	default:
		break;
	}
	if (p->l4hlen && p->l4off + p->l4hlen > p->end)
		return false;
	return true;
}

/* IP bytes of every wire packet a (possibly GSO) skb stands for: each
 * segment repeats the IP and L4 headers. */
static void spin_count_segments(const struct sk_buff *skb, struct spin_pkt *p)
{
	u32 ip_len = p->end - p->nhoff;

	p->segs = 1;
	p->bytes = ip_len;
	if (skb_is_gso(skb)) {
		u32 segs = skb_shinfo(skb)->gso_segs;
		u32 hdrs = p->l4off - p->nhoff + p->l4hlen;

		if (!segs)
			segs = 1;
		p->segs = segs;
		p->bytes = (u64)ip_len + (u64)(segs - 1) * hdrs;
	}
}

static bool spin_parse_ipv4(const struct sk_buff *skb, struct spin_pkt *p)
{
	u32 nhoff = skb_network_offset(skb);
	const struct iphdr *iph;
	struct iphdr _iph;
	u32 ihl, tot;

	iph = skb_header_pointer(skb, nhoff, sizeof(_iph), &_iph);
	if (!iph || iph->version != 4 || iph->ihl < 5)
		return false;
	ihl = iph->ihl * 4;
	tot = ntohs(iph->tot_len);
	if (tot == 0 && skb_is_gso(skb))
		tot = skb->len - nhoff;
	if (tot < ihl || nhoff + tot > skb->len)
		return false;

	memset(p, 0, sizeof(*p));
	p->nhoff = nhoff;
	p->family = SPIN_AF_INET;
	p->proto = iph->protocol;
	ipv6_addr_set(&p->src, 0, 0, 0, iph->saddr);
	ipv6_addr_set(&p->dst, 0, 0, 0, iph->daddr);
	p->later_frag = (ntohs(iph->frag_off) & IP_OFFSET) != 0;
	p->l4off = nhoff + ihl;
	p->end = nhoff + tot;
	if (!spin_parse_l4(skb, p))
		return false;
	spin_count_segments(skb, p);
	return true;
}

static bool spin_parse_ipv6(const struct sk_buff *skb, struct spin_pkt *p)
{
	u32 nhoff = skb_network_offset(skb);
	const struct ipv6hdr *ip6h;
	struct ipv6hdr _ip6h;
	__be16 frag_off = 0;
	u8 nexthdr;
	u32 tot;
	int off;

	ip6h = skb_header_pointer(skb, nhoff, sizeof(_ip6h), &_ip6h);
	if (!ip6h || ip6h->version != 6)
		return false;
	tot = ntohs(ip6h->payload_len);
	if (tot)
		tot += sizeof(struct ipv6hdr);
	else
		tot = skb->len - nhoff;	/* jumbogram or BIG TCP */
	if (tot < sizeof(struct ipv6hdr) || nhoff + tot > skb->len)
		return false;

	memset(p, 0, sizeof(*p));
	p->nhoff = nhoff;
	p->family = SPIN_AF_INET6;
	p->src = ip6h->saddr;
	p->dst = ip6h->daddr;
	p->end = nhoff + tot;
	nexthdr = ip6h->nexthdr;
	off = ipv6_skip_exthdr(skb, nhoff + sizeof(struct ipv6hdr), &nexthdr,
			       &frag_off);
	if (off < 0 || (u32)off > p->end) {
		/* No upper layer (NEXTHDR_NONE) or a broken chain: count the
		 * packet under its first header, without ports. */
		p->proto = ip6h->nexthdr;
		p->l4off = nhoff + sizeof(struct ipv6hdr);
		p->later_frag = true;
	} else {
		p->proto = nexthdr;
		p->l4off = off;
		p->later_frag = (frag_off & htons(~0x7)) != 0;
	}
	if (!spin_parse_l4(skb, p))
		return false;
	spin_count_segments(skb, p);
	return true;
}

static void spin_key_of(struct spin_addr_key *k, u8 family,
			const struct in6_addr *a)
{
	k->family = family;
	memset(k->pad, 0, sizeof(k->pad));
	k->addr = *a;
}

static bool spin_either_in(struct spin_list *l, const struct spin_pkt *p)
{
	struct spin_addr_key k;

	if (!READ_ONCE(l->count))
		return false;
	spin_key_of(&k, p->family, &p->src);
	if (spin_list_contains(l, &k))
		return true;
	spin_key_of(&k, p->family, &p->dst);
	return spin_list_contains(l, &k);
}

/* Counts the packet in this CPU's active bank. BHs are off. */
static void spin_flow_add(struct spin_net *sn, const struct spin_pkt *p,
			  u8 type)
{
	struct spin_cpu *pc = this_cpu_ptr(sn->cpu);
	struct spin_stats *st = this_cpu_ptr(sn->stats);
	u32 mask = spin_table_size - 1;
	struct spin_flow_key key;
	struct spin_bank *b;
	struct spin_flow *f;
	bool kick = false;
	u32 h, i;

	memset(&key, 0, sizeof(key));
	key.family = p->family;
	key.proto = p->proto;
	key.type = type;
	key.sport = p->sport;
	key.dport = p->dport;
	key.src = p->src;
	key.dst = p->dst;
	h = jhash2((const u32 *)&key, sizeof(key) / sizeof(u32), sn->seed);

	spin_lock(&pc->lock);
	b = &pc->bank[pc->flow_active];
	for (i = 0; i <= mask; i++) {
		f = &b->flows[(h + i) & mask];
		if (!f->packets)
			break;
		if (!memcmp(&f->key, &key, sizeof(key))) {
			f->packets += p->segs;
			f->bytes += p->bytes;
			goto out_unlock;
		}
	}
	if (i > mask || b->nused >= sn->bank_max) {
		st->flow_overflow += p->segs;
		kick = true;
		goto out_unlock;
	}
	if (type == SPIN_MSG_BLOCKED) {
		if (b->blocked_new >= READ_ONCE(spin_blocked_per_sec)) {
			st->blocked_unreported++;
			goto out_unlock;
		}
		b->blocked_new++;
	}
	f->key = key;
	f->packets = p->segs;
	f->bytes = p->bytes;
	f->payload_off = min_t(u32, p->l4off - p->nhoff + p->l4hlen, 0xffff);
	b->used[b->nused++] = (h + i) & mask;
	st->flows++;
	if (b->nused == sn->bank_hi)
		kick = true;
out_unlock:
	spin_unlock(&pc->lock);
	if (kick) {
		set_bit(SPIN_F_FLOWS_FULL, &sn->flags);
		spin_kick(sn);
	}
}

static bool spin_is_dns(const struct spin_pkt *p)
{
	if (!p->has_ports || p->later_frag)
		return false;
	if (p->proto != IPPROTO_UDP && p->proto != IPPROTO_TCP)
		return false;
	return p->sport == htons(53) || p->dport == htons(53);
}

/*
 * DNS answers are always reported (they map names to addresses, whoever
 * asked); a query is hidden when its client (the source) is ignored.
 */
static void spin_dns_maybe(struct spin_net *sn, struct sk_buff *skb,
			   const struct spin_pkt *p)
{
	struct spin_list *ign = &sn->lists[SPIN_LIST_IGNORE];
	bool report_query = true;

	if (READ_ONCE(ign->count)) {
		struct spin_addr_key k;

		spin_key_of(&k, p->family, &p->src);
		report_query = !spin_list_contains(ign, &k);
	}
	spin_dns_packet(sn, skb, p, report_query);
}

static unsigned int spin_hook(void *priv, struct sk_buff *skb,
			      const struct nf_hook_state *state)
{
	struct spin_net *sn = spin_pernet(state->net);
	unsigned long role = (unsigned long)priv;
	bool blocked = false, ignored, collect;
	unsigned int verdict = NF_ACCEPT;
	struct spin_stats *st;
	struct spin_pkt p;
	bool ok;

	collect = READ_ONCE(sn->nlisteners) &&
		  smp_load_acquire(&sn->tables_ready);
	if (role == SPIN_ROLE_FULL) {
		if (!collect && !READ_ONCE(sn->lists[SPIN_LIST_BLOCK].count))
			return NF_ACCEPT;
	} else if (!collect) {
		return NF_ACCEPT;
	}

	if (state->pf == NFPROTO_IPV4)
		ok = spin_parse_ipv4(skb, &p);
	else
		ok = spin_parse_ipv6(skb, &p);

	local_bh_disable();
	st = this_cpu_ptr(sn->stats);
	if (!ok) {
		if (role == SPIN_ROLE_FULL)
			st->unparsed++;
		goto out;
	}

	if (role == SPIN_ROLE_DNS) {
		if (spin_is_dns(&p))
			spin_dns_maybe(sn, skb, &p);
		goto out;
	}

	st->packets += p.segs;
	st->bytes += p.bytes;
	if (spin_either_in(&sn->lists[SPIN_LIST_BLOCK], &p) &&
	    !spin_either_in(&sn->lists[SPIN_LIST_EXCEPT], &p))
		blocked = true;
	ignored = spin_either_in(&sn->lists[SPIN_LIST_IGNORE], &p);
	if (ignored)
		st->ignored += p.segs;

	if (blocked) {
		st->blocked += p.segs;
		verdict = NF_DROP;
		if (collect && !ignored)
			spin_flow_add(sn, &p, SPIN_MSG_BLOCKED);
		goto out;
	}
	if (!collect)
		goto out;
	if (!ignored)
		spin_flow_add(sn, &p, SPIN_MSG_TRAFFIC);
	if (spin_is_dns(&p))
		spin_dns_maybe(sn, skb, &p);
out:
	local_bh_enable();
	return verdict;
}

static void spin_add_ops(u8 pf, unsigned int hooknum, unsigned long role)
{
	struct nf_hook_ops *ops = &spin_hook_ops[spin_hook_nops++];

	ops->hook = spin_hook;
	ops->pf = pf;
	ops->hooknum = hooknum;
	ops->priority = SPIN_HOOK_PRIORITY;
	ops->priv = (void *)role;
}

/*
 * Builds the hook list for a mode: "forward" counts forwarded packets once
 * (FORWARD) and, with @dns_local, reads DNS of the router's own resolver
 * (LOCAL_IN/LOCAL_OUT); "local" counts the router's own packets; "both"
 * counts both.
 */
int spin_hooks_setup(const char *mode, bool dns_local)
{
	static const u8 pfs[] = { NFPROTO_IPV4, NFPROTO_IPV6 };
	unsigned long local_role = 0;
	bool forward = false;
	int i;

	if (!strcmp(mode, "forward")) {
		forward = true;
		if (dns_local)
			local_role = SPIN_ROLE_DNS;
	} else if (!strcmp(mode, "local")) {
		local_role = SPIN_ROLE_FULL;
	} else if (!strcmp(mode, "both")) {
		forward = true;
		local_role = SPIN_ROLE_FULL;
	} else {
		return -EINVAL;
	}

	spin_hook_nops = 0;
	for (i = 0; i < ARRAY_SIZE(pfs); i++) {
		if (forward)
			spin_add_ops(pfs[i], NF_INET_FORWARD, SPIN_ROLE_FULL);
		if (local_role) {
			spin_add_ops(pfs[i], NF_INET_LOCAL_IN, local_role);
			spin_add_ops(pfs[i], NF_INET_LOCAL_OUT, local_role);
		}
	}
	return 0;
}
