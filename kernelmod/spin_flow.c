// SPDX-License-Identifier: GPL-2.0
/*
 * Per-CPU tables and the flush worker.
 *
 * Each CPU has two banks. The hook writes the active bank; once a second
 * (aligned to the wall-clock second), or earlier when a table passes its
 * high mark or a DNS buffer is half full, the worker swaps every CPU's
 * banks under that CPU's lock, merges the flow tables of all CPUs, packs the
 * records many to a datagram and unicasts each datagram to every listener.
 * A listener whose socket is full gets the datagram queued on its own
 * bounded backlog, retried every 20 ms; when the backlog is full the
 * datagram is dropped and counted. Nothing here runs in the packet path.
 */
#include <linux/jhash.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/netlink.h>
#include <linux/slab.h>
#include <net/netlink.h>
#include <net/sock.h>

#include "spin_internal.h"

#define SPIN_SLACK_NS (NSEC_PER_SEC / 100)
#define SPIN_RETRY_MS 20

static void spin_bank_free(struct spin_bank *b)
{
	kvfree(b->flows);
	kvfree(b->used);
	kvfree(b->dns);
	b->flows = NULL;
	b->used = NULL;
	b->dns = NULL;
}

static int spin_bank_alloc(struct spin_bank *b, int node)
{
	b->flows = kvzalloc_node(array_size(spin_table_size, sizeof(*b->flows)),
				 GFP_KERNEL, node);
	b->used = kvzalloc_node(array_size(spin_table_size, sizeof(*b->used)),
				GFP_KERNEL, node);
	b->dns = kvzalloc_node(spin_dns_buffer, GFP_KERNEL, node);
	if (!b->flows || !b->used || !b->dns) {
		spin_bank_free(b);
		return -ENOMEM;
	}
	b->nused = 0;
	b->dns_len = 0;
	b->blocked_new = 0;
	return 0;
}

/* Allocates every CPU's banks. Caller holds sn->lock; process context. */
int spin_tables_alloc(struct spin_net *sn)
{
	int cpu, i;

	if (sn->tables_ready)
		return 0;
	for_each_possible_cpu(cpu) {
		struct spin_cpu *pc = per_cpu_ptr(sn->cpu, cpu);

		for (i = 0; i < 2; i++) {
			if (spin_bank_alloc(&pc->bank[i], cpu_to_node(cpu))) {
				spin_tables_free(sn);
				return -ENOMEM;
			}
		}
	}
	sn->bank_hi = spin_table_size / 2;
	sn->bank_max = spin_table_size / 4 * 3;
	/* The hook reads tables_ready with acquire before using the banks. */
	smp_store_release(&sn->tables_ready, true);
	return 0;
}

/* Frees the banks; only when no hook and no worker can run. */
void spin_tables_free(struct spin_net *sn)
{
	int cpu, i;

	sn->tables_ready = false;
	for_each_possible_cpu(cpu) {
		struct spin_cpu *pc = per_cpu_ptr(sn->cpu, cpu);

		for (i = 0; i < 2; i++)
			spin_bank_free(&pc->bank[i]);
	}
}

static void spin_bank_clear(struct spin_bank *b);

/*
 * Forgets what the banks hold: counts made for listeners that have all gone
 * since. Called when the first listener registers, so it gets only what was
 * counted for it. Caller holds sn->lock (the worker is not running); the
 * hooks do not count while there is no listener.
 */
void spin_tables_reset(struct spin_net *sn)
{
	int cpu, i;

	if (!sn->tables_ready)
		return;
	for_each_possible_cpu(cpu) {
		struct spin_cpu *pc = per_cpu_ptr(sn->cpu, cpu);

		spin_lock_bh(&pc->lock);
		for (i = 0; i < 2; i++) {
			spin_bank_clear(&pc->bank[i]);
			pc->bank[i].dns_len = 0;
		}
		spin_unlock_bh(&pc->lock);
	}
}

/* Any context: asks the worker to run now (once until it has run). */
void spin_kick(struct spin_net *sn)
{
	if (!test_and_set_bit(SPIN_F_KICKED, &sn->flags))
		mod_delayed_work(spin_wq, &sn->flush_work, 0);
}

static u64 spin_next_second(u64 now_ns)
{
	return ((now_ns + SPIN_SLACK_NS) / NSEC_PER_SEC + 1) * NSEC_PER_SEC;
}

/* Caller holds sn->lock: starts the worker if it is idle. */
void spin_schedule_tick(struct spin_net *sn)
{
	u64 now = ktime_get_real_ns();

	if (delayed_work_pending(&sn->flush_work))
		return;
	sn->next_tick_ns = spin_next_second(now);
	queue_delayed_work(spin_wq, &sn->flush_work,
			   nsecs_to_jiffies(sn->next_tick_ns - now) + 1);
}

/*
 * Queues one packed DNS message (header + data) in this CPU's active bank.
 * Called from the hook with BHs off. Returns false when it did not fit.
 */
bool spin_dns_append(struct spin_net *sn, u8 type, u8 family,
		     const struct in6_addr *addr, u32 ttl,
		     const u8 *name, unsigned int name_len)
{
	struct spin_cpu *pc = this_cpu_ptr(sn->cpu);
	unsigned int len = SPIN_MSG_HDR_LEN + SPIN_DNS_FIXED_LEN + name_len;
	bool kick = false, ok = false;
	struct spin_bank *b;
	u8 *m, *d;

	spin_lock(&pc->lock);
	b = &pc->bank[pc->dns_active];
	if (b->dns_len + len <= spin_dns_buffer) {
		m = b->dns + b->dns_len;
		d = m + SPIN_MSG_HDR_LEN;
		spin_msg_pack_header(m, type, SPIN_DNS_FIXED_LEN + name_len);
		d[SPIN_DNS_OFF_FAMILY] = family;
		memcpy(d + SPIN_DNS_OFF_ADDR, addr, SPIN_ADDR_LEN);
		spin_put_be32(d + SPIN_DNS_OFF_TTL, ttl);
		d[SPIN_DNS_OFF_NAME_LEN] = name_len;
		memcpy(d + SPIN_DNS_OFF_NAME, name, name_len);
		kick = b->dns_len < spin_dns_buffer / 2 &&
		       b->dns_len + len >= spin_dns_buffer / 2;
		b->dns_len += len;
		ok = true;
	} else {
		kick = true;
	}
	spin_unlock(&pc->lock);
	if (kick)
		spin_kick(sn);
	return ok;
}

/* ---------------------------------------------------------------- delivery */

static int spin_send_clone(struct spin_net *sn, struct spin_listener *l,
			   struct sk_buff *skb)
{
	struct sk_buff *c = skb_clone(skb, GFP_KERNEL);
	int err;

	if (!c)
		return -ENOMEM;
	err = netlink_unicast(sn->trf_sk, c, l->portid, MSG_DONTWAIT);
	return err < 0 ? err : 0;
}

/* Sends what a listener has held back, oldest first, until its socket is
 * full again. Caller holds sn->lock. */
static void spin_drain(struct spin_net *sn, struct spin_listener *l)
{
	struct sk_buff *skb;
	int err;

	while (!l->dead && (skb = skb_peek(&l->backlog))) {
		err = spin_send_clone(sn, l, skb);
		if (err == -EAGAIN || err == -ENOMEM)
			return;
		if (err) {
			l->dead = true;
			return;
		}
		__skb_unlink(skb, &l->backlog);
		consume_skb(skb);
		l->datagrams++;
	}
}

static void spin_deliver(struct spin_net *sn, struct sk_buff *skb)
{
	unsigned int i, max_backlog = READ_ONCE(spin_backlog);
	int err;

	for (i = 0; i < sn->nlisteners; i++) {
		struct spin_listener *l = sn->listeners[i];
		struct sk_buff *c;

		if (l->dead)
			continue;
		if (skb_queue_empty(&l->backlog)) {
			err = spin_send_clone(sn, l, skb);
			if (!err) {
				l->datagrams++;
				continue;
			}
			if (err != -EAGAIN && err != -ENOMEM) {
				l->dead = true;
				continue;
			}
		}
		if (skb_queue_len(&l->backlog) >= max_backlog) {
			l->dropped++;
			sn->datagrams_dropped++;
			continue;
		}
		c = skb_clone(skb, GFP_KERNEL);
		if (!c) {
			l->dropped++;
			sn->datagrams_dropped++;
			sn->alloc_failures++;
			continue;
		}
		__skb_queue_tail(&l->backlog, c);
	}
}

/* Removes listeners whose socket went away. Caller holds sn->lock. */
static void spin_reap(struct spin_net *sn)
{
	unsigned int i = 0;

	while (i < sn->nlisteners) {
		struct spin_listener *l = sn->listeners[i];

		if (!l->dead) {
			i++;
			continue;
		}
		sn->listeners[i] = sn->listeners[sn->nlisteners - 1];
		sn->listeners[sn->nlisteners - 1] = NULL;
		WRITE_ONCE(sn->nlisteners, sn->nlisteners - 1);
		spin_listener_free(l);
	}
}

/* Datagrams under construction: netlink messages appended to one skb until
 * the next would pass spin_max_datagram. */
struct spin_batch {
	struct spin_net *sn;
	struct sk_buff *skb;
	unsigned int limit;
};

static void spin_batch_flush(struct spin_batch *b)
{
	if (!b->skb)
		return;
	b->sn->datagrams_built++;
	spin_deliver(b->sn, b->skb);
	consume_skb(b->skb);
	b->skb = NULL;
}

/* Returns room for a message of @len payload bytes, or NULL. */
static void *spin_batch_put(struct spin_batch *b, unsigned int len)
{
	struct nlmsghdr *nlh;

	if (b->skb && b->skb->len + nlmsg_total_size(len) > b->limit)
		spin_batch_flush(b);
	if (!b->skb) {
		b->skb = alloc_skb(max_t(unsigned int, b->limit,
					 nlmsg_total_size(len)), GFP_KERNEL);
		if (!b->skb) {
			b->sn->alloc_failures++;
			return NULL;
		}
	}
	nlh = nlmsg_put(b->skb, 0, 0, SPIN_NLMSG_TYPE, len, 0);
	if (!nlh)
		return NULL;
	b->sn->records_sent++;
	return nlmsg_data(nlh);
}

static void spin_emit_dns(struct spin_batch *b, struct spin_bank *bank)
{
	u32 pos = 0;

	while (pos + SPIN_MSG_HDR_LEN <= bank->dns_len) {
		u32 len = SPIN_MSG_HDR_LEN + spin_get_be16(bank->dns + pos + 2);
		void *m;

		if (pos + len > bank->dns_len)
			break;
		m = spin_batch_put(b, len);
		if (m)
			memcpy(m, bank->dns + pos, len);
		pos += len;
	}
	bank->dns_len = 0;
}

/* Emits one flow as records. Counters wider than the wire fields (16-bit
 * packets, 32-bit bytes) are split over several records of the same
 * interval so that the sums stay exact. */
static void spin_emit_flow(struct spin_batch *b, const struct spin_flow *f)
{
	u64 n = max_t(u64, DIV_ROUND_UP(f->packets, 0xffffU),
		      DIV64_U64_ROUND_UP(f->bytes, 0xffffffffULL));
	struct spin_flow_record r;
	u64 i, bq, br;
	u32 pq, pr;
	void *m;

	if (!n)
		n = 1;
	pq = f->packets / (u32)n;
	pr = f->packets % (u32)n;
	bq = div64_u64_rem(f->bytes, n, &br);

	r.family = f->key.family;
	r.proto = f->key.proto;
	memcpy(r.src, &f->key.src, SPIN_ADDR_LEN);
	memcpy(r.dst, &f->key.dst, SPIN_ADDR_LEN);
	r.sport = ntohs(f->key.sport);
	r.dport = ntohs(f->key.dport);
	r.payload_offset = f->payload_off;
	for (i = 0; i < n; i++) {
		r.packets = pq + (i < pr ? 1 : 0);
		r.bytes = bq + (i < br ? 1 : 0);
		m = spin_batch_put(b, SPIN_MSG_HDR_LEN + SPIN_FLOW_DATA_LEN);
		if (m)
			spin_flow_pack(m, f->key.type, &r);
	}
}

static struct spin_flow *spin_bank_find(struct spin_net *sn,
					struct spin_bank *b,
					const struct spin_flow_key *key,
					bool *found)
{
	u32 mask = spin_table_size - 1;
	u32 h = jhash2((const u32 *)key, sizeof(*key) / sizeof(u32), sn->seed);
	u32 i;

	for (i = 0; i <= mask; i++) {
		struct spin_flow *f = &b->flows[(h + i) & mask];

		if (!f->packets) {
			*found = false;
			if (b->nused >= sn->bank_max)
				return NULL;
			b->used[b->nused++] = (h + i) & mask;
			return f;
		}
		if (!memcmp(&f->key, key, sizeof(*key))) {
			*found = true;
			return f;
		}
	}
	return NULL;
}

static void spin_bank_clear(struct spin_bank *b)
{
	u32 i;

	for (i = 0; i < b->nused; i++)
		b->flows[b->used[i]].packets = 0;
	b->nused = 0;
	b->blocked_new = 0;
}

/*
 * Merges the inactive flow banks of all CPUs into the first one (a flow
 * seen on several CPUs becomes one record), emits it and clears them all.
 * A flow that finds no room in the first bank is emitted on its own.
 */
static void spin_emit_flows(struct spin_net *sn, struct spin_batch *b)
{
	struct spin_bank *first = NULL;
	int cpu;
	u32 i;

	for_each_possible_cpu(cpu) {
		struct spin_cpu *pc = per_cpu_ptr(sn->cpu, cpu);
		struct spin_bank *bank = &pc->bank[pc->flow_active ^ 1];

		if (!bank->nused)
			continue;
		if (!first) {
			first = bank;
			continue;
		}
		for (i = 0; i < bank->nused; i++) {
			struct spin_flow *f = &bank->flows[bank->used[i]];
			struct spin_flow *t;
			bool found;

			t = spin_bank_find(sn, first, &f->key, &found);
			if (!t) {
				spin_emit_flow(b, f);
			} else if (found) {
				t->packets += f->packets;
				t->bytes += f->bytes;
			} else {
				*t = *f;
			}
		}
		spin_bank_clear(bank);
	}
	if (!first)
		return;
	for (i = 0; i < first->nused; i++)
		spin_emit_flow(b, &first->flows[first->used[i]]);
	spin_bank_clear(first);
}

void spin_flush_work(struct work_struct *work)
{
	struct spin_net *sn = container_of(to_delayed_work(work),
					   struct spin_net, flush_work);
	struct spin_batch b = { .sn = sn, .limit = spin_max_datagram };
	bool due, pending = false;
	unsigned long delay;
	unsigned int i;
	u64 now;
	int cpu;

	clear_bit(SPIN_F_KICKED, &sn->flags);
	mutex_lock(&sn->lock);
	if (sn->dying || !sn->tables_ready) {
		mutex_unlock(&sn->lock);
		return;
	}
	now = ktime_get_real_ns();
	due = test_and_clear_bit(SPIN_F_FLOWS_FULL, &sn->flags);
	if (now + SPIN_SLACK_NS >= sn->next_tick_ns)
		due = true;
	for_each_possible_cpu(cpu) {
		struct spin_cpu *pc = per_cpu_ptr(sn->cpu, cpu);

		spin_lock_bh(&pc->lock);
		pc->dns_active ^= 1;
		if (due)
			pc->flow_active ^= 1;
		spin_unlock_bh(&pc->lock);
	}

	/* Listeners first get what they had held back, in order. */
	for (i = 0; i < sn->nlisteners; i++)
		spin_drain(sn, sn->listeners[i]);

	/* DNS before traffic, so names are known when their flows arrive. */
	for_each_possible_cpu(cpu) {
		struct spin_cpu *pc = per_cpu_ptr(sn->cpu, cpu);

		spin_emit_dns(&b, &pc->bank[pc->dns_active ^ 1]);
	}
	if (due) {
		spin_emit_flows(sn, &b);
		sn->flushes++;
	}
	spin_batch_flush(&b);

	spin_reap(sn);
	for (i = 0; i < sn->nlisteners; i++)
		if (!skb_queue_empty(&sn->listeners[i]->backlog))
			pending = true;

	if (due)
		sn->next_tick_ns = spin_next_second(now);
	now = ktime_get_real_ns();
	delay = sn->next_tick_ns > now ?
		nsecs_to_jiffies(sn->next_tick_ns - now) + 1 : 1;
	if (pending)
		delay = min(delay, msecs_to_jiffies(SPIN_RETRY_MS));
	/* With no listener left the worker stops; a registration restarts it. */
	if (sn->nlisteners)
		queue_delayed_work(spin_wq, &sn->flush_work, delay);
	mutex_unlock(&sn->lock);
}
