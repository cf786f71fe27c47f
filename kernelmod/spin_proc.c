// SPDX-License-Identifier: GPL-2.0
/*
 * /proc/net/spin: the counters of the namespace's collector, one
 * "name value" per line, then one line per listener.
 */
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

#include "spin_internal.h"

static int spin_proc_show(struct seq_file *seq, void *v)
{
	struct net *net = seq_file_single_net(seq);
	struct spin_net *sn = spin_pernet(net);
	struct spin_stats sum = {};
	unsigned long now = jiffies;
	unsigned int i;
	int cpu;

	for_each_possible_cpu(cpu) {
		const struct spin_stats *s = per_cpu_ptr(sn->stats, cpu);

		sum.packets += READ_ONCE(s->packets);
		sum.bytes += READ_ONCE(s->bytes);
		sum.unparsed += READ_ONCE(s->unparsed);
		sum.blocked += READ_ONCE(s->blocked);
		sum.ignored += READ_ONCE(s->ignored);
		sum.flows += READ_ONCE(s->flows);
		sum.flow_overflow += READ_ONCE(s->flow_overflow);
		sum.blocked_unreported += READ_ONCE(s->blocked_unreported);
		sum.dns_packets += READ_ONCE(s->dns_packets);
		sum.dns_answers += READ_ONCE(s->dns_answers);
		sum.dns_queries += READ_ONCE(s->dns_queries);
		sum.dns_errors += READ_ONCE(s->dns_errors);
		sum.dns_skipped += READ_ONCE(s->dns_skipped);
		sum.dns_overflow += READ_ONCE(s->dns_overflow);
		sum.answers_overflow += READ_ONCE(s->answers_overflow);
	}

	seq_printf(seq, "version %u\n", SPIN_PROTOCOL_VERSION);
	seq_printf(seq, "mode %s\n", spin_mode_name);
	seq_printf(seq, "packets %llu\n", sum.packets);
	seq_printf(seq, "bytes %llu\n", sum.bytes);
	seq_printf(seq, "unparsed %llu\n", sum.unparsed);
	seq_printf(seq, "blocked %llu\n", sum.blocked);
	seq_printf(seq, "ignored %llu\n", sum.ignored);
	seq_printf(seq, "flows %llu\n", sum.flows);
	seq_printf(seq, "flow_overflow %llu\n", sum.flow_overflow);
	seq_printf(seq, "blocked_unreported %llu\n", sum.blocked_unreported);
	seq_printf(seq, "dns_packets %llu\n", sum.dns_packets);
	seq_printf(seq, "dns_answers %llu\n", sum.dns_answers);
	seq_printf(seq, "dns_queries %llu\n", sum.dns_queries);
	seq_printf(seq, "dns_errors %llu\n", sum.dns_errors);
	seq_printf(seq, "dns_skipped %llu\n", sum.dns_skipped);
	seq_printf(seq, "dns_overflow %llu\n", sum.dns_overflow);
	seq_printf(seq, "answers_overflow %llu\n", sum.answers_overflow);

	mutex_lock(&sn->lock);
	seq_printf(seq, "records_sent %llu\n", sn->records_sent);
	seq_printf(seq, "datagrams_built %llu\n", sn->datagrams_built);
	seq_printf(seq, "datagrams_dropped %llu\n", sn->datagrams_dropped);
	seq_printf(seq, "alloc_failures %llu\n", sn->alloc_failures);
	seq_printf(seq, "flushes %llu\n", sn->flushes);
	seq_printf(seq, "cfg_commands %llu\n", sn->cfg_commands);
	seq_printf(seq, "cfg_denied %llu\n", sn->cfg_denied);
	seq_printf(seq, "cfg_replies_lost %llu\n", sn->cfg_replies_lost);
	seq_printf(seq, "register_denied %llu\n", sn->trf_denied);
	seq_printf(seq, "ignore_entries %u\n", sn->lists[SPIN_LIST_IGNORE].count);
	seq_printf(seq, "block_entries %u\n", sn->lists[SPIN_LIST_BLOCK].count);
	seq_printf(seq, "except_entries %u\n", sn->lists[SPIN_LIST_EXCEPT].count);
	seq_printf(seq, "listeners %u\n", sn->nlisteners);
	for (i = 0; i < sn->nlisteners; i++) {
		const struct spin_listener *l = sn->listeners[i];

		seq_printf(seq,
			   "listener portid=%u datagrams=%llu dropped=%llu backlog=%u pings=%llu ping_age_ms=%u age_ms=%u\n",
			   l->portid, l->datagrams, l->dropped,
			   skb_queue_len(&l->backlog), l->pings,
			   jiffies_to_msecs(now - l->last_ping),
			   jiffies_to_msecs(now - l->registered));
	}
	mutex_unlock(&sn->lock);
	return 0;
}

int spin_proc_net_init(struct net *net)
{
	if (!proc_create_net_single("spin", 0444, net->proc_net,
				    spin_proc_show, NULL))
		return -ENOMEM;
	return 0;
}

void spin_proc_net_exit(struct net *net)
{
	remove_proc_entry("spin", net->proc_net);
}
