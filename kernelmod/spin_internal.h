/* SPDX-License-Identifier: GPL-2.0 */
/*
 * spin.ko internals shared by its source files.
 *
 * Everything lives per network namespace (struct spin_net): the netfilter
 * hooks, the two netlink sockets, the listeners, the block/except/ignore
 * sets and the per-CPU tables. A process talks to the module of its own
 * namespace about the traffic of that namespace.
 */
#ifndef SPIN_INTERNAL_H
#define SPIN_INTERNAL_H

#include <linux/in6.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/netfilter.h>
#include <linux/percpu.h>
#include <linux/rhashtable-types.h>
#include <linux/skbuff.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/workqueue.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>

#include "include/uapi/spin_netlink.h"

/* ---------------------------------------------------------------- params */

extern unsigned int spin_table_size;	/* flow slots per CPU per bank */
extern unsigned int spin_dns_buffer;	/* DNS bytes per CPU per bank */
extern unsigned int spin_max_listeners;
extern unsigned int spin_backlog;	/* datagrams held per listener */
extern unsigned int spin_max_datagram;	/* netlink bytes per datagram */
extern unsigned int spin_blocked_per_sec;
extern unsigned int spin_list_max;
extern const char *spin_mode_name;

extern unsigned int spin_net_id;
extern struct workqueue_struct *spin_wq;

/* ---------------------------------------------------------------- lists */

enum spin_list_id {
	SPIN_LIST_IGNORE,
	SPIN_LIST_BLOCK,
	SPIN_LIST_EXCEPT,
	SPIN_LIST_COUNT,
};

/* The key of a set entry: family plus address in wire encoding (IPv4 as 12
 * zero bytes and the address), so IPv4 1.2.3.4 and IPv6 ::1.2.3.4 differ. */
struct spin_addr_key {
	u8 family;
	u8 pad[3];
	struct in6_addr addr;
};

/* One address set: an RCU hash table the hooks read, and a list of the same
 * entries that writers (under spin_net.lock) walk for GET and CLEAR. */
struct spin_list {
	struct rhashtable ht;
	struct list_head entries;
	unsigned int count;	/* READ_ONCE in the hooks: 0 skips lookups */
};

int spin_lists_init(struct spin_list *lists);
void spin_lists_destroy(struct spin_list *lists);
bool spin_list_contains(struct spin_list *l, const struct spin_addr_key *k);
int spin_list_add(struct spin_list *l, const struct spin_addr_key *k);
int spin_list_remove(struct spin_list *l, const struct spin_addr_key *k);
void spin_list_clear(struct spin_list *l);
/* Copies up to @max keys into @out; returns how many. */
unsigned int spin_list_snapshot(struct spin_list *l, struct spin_addr_key *out,
				unsigned int max);

/* ---------------------------------------------------------------- flows */

/* The aggregation key: one record per key per interval. @type separates
 * TRAFFIC from BLOCKED. 40 bytes, a multiple of 4 for jhash2. */
struct spin_flow_key {
	u8 family;
	u8 proto;
	u8 type;
	u8 pad;
	__be16 sport;
	__be16 dport;
	struct in6_addr src;
	struct in6_addr dst;
};

/* A slot of a per-CPU table. packets == 0 marks a free slot. */
struct spin_flow {
	struct spin_flow_key key;
	u32 packets;
	u16 payload_off;
	u16 pad;
	u64 bytes;
};

/* One bank of a CPU: an open-addressing table for the current interval,
 * the indexes of its used slots (so clearing and walking cost what was
 * used, not the table size) and a buffer of packed DNS messages. */
struct spin_bank {
	struct spin_flow *flows;
	u32 *used;
	u32 nused;
	u32 blocked_new;
	u32 dns_len;
	u8 *dns;
};

/* Per-CPU state: the hook writes the active banks under @lock (taken with
 * bottom halves disabled); the flush worker swaps them under the same lock
 * and then owns the inactive ones until its next swap. */
struct spin_cpu {
	spinlock_t lock;
	u8 flow_active;
	u8 dns_active;
	struct spin_bank bank[2];
};

/* Per-CPU counters of the packet path. */
struct spin_stats {
	u64 packets;		/* packets the full hooks parsed */
	u64 bytes;		/* their IP-layer bytes */
	u64 unparsed;		/* not IPv4/IPv6 or a broken header: accepted */
	u64 blocked;		/* packets dropped by the verdict */
	u64 ignored;		/* packets hidden by the ignore set */
	u64 flows;		/* flow slots created */
	u64 flow_overflow;	/* packets not counted: table full */
	u64 blocked_unreported;	/* new BLOCKED flows over blocked_per_sec */
	u64 dns_packets;	/* port-53 packets looked at */
	u64 dns_answers;	/* DNS_ANSWER records queued */
	u64 dns_queries;	/* DNS_QUERY records queued */
	u64 dns_errors;		/* messages rejected by the parser */
	u64 dns_skipped;	/* too large, partial TCP segment, GSO */
	u64 dns_overflow;	/* records lost: DNS buffer full */
	u64 answers_overflow;	/* answers beyond the per-message bound */
};

/* ---------------------------------------------------------------- netlink */

struct spin_listener {
	u32 portid;
	unsigned long registered;	/* jiffies */
	unsigned long last_ping;	/* jiffies */
	u64 pings;
	u64 datagrams;			/* delivered */
	u64 dropped;			/* datagrams lost: backlog full */
	bool dead;			/* socket gone: removed by the worker */
	struct sk_buff_head backlog;	/* datagrams its socket had no room for */
};

/* A queued configuration command (protocol 30). */
struct spin_cfg_req {
	struct list_head node;
	u32 portid;
	u32 seq;
	bool privileged;
	u8 len;				/* payload bytes kept in @data */
	u8 data[SPIN_CMD_MAX_LEN];
};

#define SPIN_MAX_LISTENERS_LIMIT 32
#define SPIN_CFG_QUEUE_MAX 64

enum spin_net_flags {
	SPIN_F_KICKED,		/* the worker was asked to run early */
	SPIN_F_FLOWS_FULL,	/* a flow table reached its load limit */
};

struct spin_net {
	struct net *net;
	struct sock *cfg_sk;
	struct sock *trf_sk;

	/* Serialises listeners, list writers, table allocation and delivery. */
	struct mutex lock;
	struct spin_listener *listeners[SPIN_MAX_LISTENERS_LIMIT];
	unsigned int nlisteners;	/* READ_ONCE in the hooks */
	bool dying;

	struct spin_list lists[SPIN_LIST_COUNT];

	struct spin_cpu __percpu *cpu;
	struct spin_stats __percpu *stats;
	bool tables_ready;		/* banks allocated (acquire/release) */
	u32 seed;

	struct delayed_work flush_work;
	unsigned long flags;
	u64 next_tick_ns;		/* wall clock of the next interval end */
	u32 bank_hi;			/* kick the worker above this many flows */
	u32 bank_max;			/* no new flows above this many */

	/* Delivery counters (under @lock). */
	u64 records_sent;
	u64 datagrams_built;
	u64 datagrams_dropped;
	u64 alloc_failures;
	u64 flushes;

	/* Configuration requests, executed in order by @cfg_work. */
	spinlock_t cfg_qlock;
	struct list_head cfg_queue;
	unsigned int cfg_qlen;
	struct work_struct cfg_work;
	u64 cfg_commands;
	u64 cfg_denied;
	u64 cfg_replies_lost;
	u64 trf_denied;
};

static inline struct spin_net *spin_pernet(const struct net *net)
{
	return net_generic(net, spin_net_id);
}

/* spin_hook.c */
extern struct nf_hook_ops spin_hook_ops[6];
extern unsigned int spin_hook_nops;
int spin_hooks_setup(const char *mode, bool dns_local);

/* spin_flow.c */
int spin_tables_alloc(struct spin_net *sn);
void spin_tables_free(struct spin_net *sn);
void spin_tables_reset(struct spin_net *sn);
void spin_flush_work(struct work_struct *work);
void spin_kick(struct spin_net *sn);
void spin_schedule_tick(struct spin_net *sn);
bool spin_dns_append(struct spin_net *sn, u8 type, u8 family,
		     const struct in6_addr *addr, u32 ttl,
		     const u8 *name, unsigned int name_len);

/* spin_dns.c */
struct spin_pkt;
void spin_dns_packet(struct spin_net *sn, struct sk_buff *skb,
		     const struct spin_pkt *p, bool report_query);
int spin_dns_scratch_alloc(void);
void spin_dns_scratch_free(void);

/* spin_netlink.c */
int spin_netlink_net_init(struct spin_net *sn);
void spin_netlink_net_exit(struct spin_net *sn);
int spin_netlink_notifier_register(void);
void spin_netlink_notifier_unregister(void);
void spin_listener_free(struct spin_listener *l);

/* spin_proc.c */
int spin_proc_net_init(struct net *net);
void spin_proc_net_exit(struct net *net);

/* ---------------------------------------------------------------- packets */

/* What the hook parsed of one packet. Offsets are from skb->data, which is
 * the network header at the IP hooks. */
struct spin_pkt {
	u8 family;		/* SPIN_AF_INET or SPIN_AF_INET6 */
	u8 proto;		/* L4 protocol (after IPv6 extension headers) */
	bool has_ports;		/* TCP/UDP/SCTP/DCCP header read */
	bool later_frag;	/* a fragment that is not the first */
	__be16 sport;
	__be16 dport;
	struct in6_addr src;
	struct in6_addr dst;
	u32 nhoff;		/* network header offset */
	u32 l4off;		/* L4 header offset */
	u32 l4hlen;		/* L4 header length, 0 if unknown */
	u32 end;		/* end of the IP packet (total length) */
	u32 segs;		/* packets this skb stands for (GSO) */
	u64 bytes;		/* IP bytes of all of them */
};

#endif /* SPIN_INTERNAL_H */
