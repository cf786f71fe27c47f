// SPDX-License-Identifier: GPL-2.0
/*
 * spin.ko: the SPIN traffic collector.
 *
 * Netfilter hooks in every network namespace see each packet once, apply
 * the block/except/ignore verdict, count it per flow and per second in
 * per-CPU tables and extract DNS answers and queries; a worker sends the
 * records to the listeners of netlink protocol 31, and protocol 30 changes
 * the address sets. Wire format: include/uapi/spin_netlink.h; the design:
 * doc/kernelmod.md.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/log2.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/netfilter.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <net/netlink.h>

#include "spin_internal.h"

static char *mode = "forward";
module_param(mode, charp, 0444);
MODULE_PARM_DESC(mode,
		 "what to count: forward (forwarded packets, once), local (the host's own packets) or both");

static bool dns_local = true;
module_param(dns_local, bool, 0444);
MODULE_PARM_DESC(dns_local,
		 "in forward mode, also read DNS of the host's own port-53 traffic (a local resolver)");

unsigned int spin_table_size = 2048;
module_param_named(table_size, spin_table_size, uint, 0444);
MODULE_PARM_DESC(table_size,
		 "flow slots per CPU per interval (power of two, 64-65536; flushed early at half)");

unsigned int spin_dns_buffer = 16384;
module_param_named(dns_buffer, spin_dns_buffer, uint, 0444);
MODULE_PARM_DESC(dns_buffer,
		 "bytes of DNS records per CPU between flushes (1024-262144; flushed early at half)");

unsigned int spin_max_listeners = 8;
module_param_named(max_listeners, spin_max_listeners, uint, 0444);
MODULE_PARM_DESC(max_listeners, "traffic listeners per namespace (1-32)");

unsigned int spin_backlog = 64;
module_param_named(backlog, spin_backlog, uint, 0644);
MODULE_PARM_DESC(backlog,
		 "datagrams held for a listener whose socket is full before they are dropped and counted");

unsigned int spin_max_datagram;
module_param_named(max_datagram, spin_max_datagram, uint, 0444);
MODULE_PARM_DESC(max_datagram,
		 "bytes of netlink messages per traffic datagram (0: one page; 1: one record per datagram, for old readers)");

unsigned int spin_blocked_per_sec = 256;
module_param_named(blocked_per_sec, spin_blocked_per_sec, uint, 0644);
MODULE_PARM_DESC(blocked_per_sec,
		 "new BLOCKED flows reported per CPU per interval; more are dropped unreported and counted");

unsigned int spin_list_max = 65536;
module_param_named(list_max, spin_list_max, uint, 0644);
MODULE_PARM_DESC(list_max, "entries per address set");

const char *spin_mode_name;
unsigned int spin_net_id __read_mostly;
struct workqueue_struct *spin_wq;

static int __net_init spin_net_init(struct net *net)
{
	struct spin_net *sn = spin_pernet(net);
	int cpu, err;

	sn->net = net;
	mutex_init(&sn->lock);
	spin_lock_init(&sn->cfg_qlock);
	INIT_LIST_HEAD(&sn->cfg_queue);
	INIT_DELAYED_WORK(&sn->flush_work, spin_flush_work);
	sn->seed = get_random_u32();

	sn->stats = alloc_percpu(struct spin_stats);
	sn->cpu = alloc_percpu(struct spin_cpu);
	if (!sn->stats || !sn->cpu) {
		err = -ENOMEM;
		goto err_percpu;
	}
	for_each_possible_cpu(cpu)
		spin_lock_init(&per_cpu_ptr(sn->cpu, cpu)->lock);

	err = spin_lists_init(sn->lists);
	if (err)
		goto err_percpu;
	err = spin_netlink_net_init(sn);
	if (err)
		goto err_lists;
	err = spin_proc_net_init(net);
	if (err)
		goto err_netlink;
	err = nf_register_net_hooks(net, spin_hook_ops, spin_hook_nops);
	if (err)
		goto err_proc;
	return 0;

err_proc:
	spin_proc_net_exit(net);
err_netlink:
	spin_netlink_net_exit(sn);
err_lists:
	spin_lists_destroy(sn->lists);
err_percpu:
	free_percpu(sn->cpu);
	free_percpu(sn->stats);
	return err;
}

/* Hooks go first; the core waits an RCU grace period before .exit, after
 * which no hook runs. */
static void __net_exit spin_net_pre_exit(struct net *net)
{
	nf_unregister_net_hooks(net, spin_hook_ops, spin_hook_nops);
}

static void __net_exit spin_net_exit(struct net *net)
{
	struct spin_net *sn = spin_pernet(net);

	spin_proc_net_exit(net);
	spin_netlink_net_exit(sn);
	spin_tables_free(sn);
	spin_lists_destroy(sn->lists);
	free_percpu(sn->cpu);
	free_percpu(sn->stats);
}

static struct pernet_operations spin_net_ops = {
	.init = spin_net_init,
	.pre_exit = spin_net_pre_exit,
	.exit = spin_net_exit,
	.id = &spin_net_id,
	.size = sizeof(struct spin_net),
};

static int __init spin_check_params(void)
{
	if (!is_power_of_2(spin_table_size) || spin_table_size < 64 ||
	    spin_table_size > 65536) {
		pr_err("table_size must be a power of two in 64..65536\n");
		return -EINVAL;
	}
	if (spin_dns_buffer < 1024 || spin_dns_buffer > 262144) {
		pr_err("dns_buffer must be in 1024..262144\n");
		return -EINVAL;
	}
	if (spin_max_listeners < 1 ||
	    spin_max_listeners > SPIN_MAX_LISTENERS_LIMIT) {
		pr_err("max_listeners must be in 1..%d\n",
		       SPIN_MAX_LISTENERS_LIMIT);
		return -EINVAL;
	}
	if (!spin_max_datagram || spin_max_datagram > NLMSG_GOODSIZE)
		spin_max_datagram = NLMSG_GOODSIZE;
	if (spin_hooks_setup(mode, dns_local)) {
		pr_err("mode must be forward, local or both\n");
		return -EINVAL;
	}
	spin_mode_name = mode;
	return 0;
}

static int __init spin_init(void)
{
	int err;

	err = spin_check_params();
	if (err)
		return err;
	err = spin_dns_scratch_alloc();
	if (err)
		return err;
	spin_wq = alloc_workqueue("spin", WQ_UNBOUND, 0);
	if (!spin_wq) {
		err = -ENOMEM;
		goto err_scratch;
	}
	err = register_pernet_subsys(&spin_net_ops);
	if (err) {
		pr_err("cannot set up (netlink protocol %d or %d taken?): %d\n",
		       SPIN_NETLINK_CONFIG, SPIN_NETLINK_TRAFFIC, err);
		goto err_wq;
	}
	err = spin_netlink_notifier_register();
	if (err)
		goto err_pernet;
	pr_info("protocol v%d on netlink %d/%d, mode %s\n",
		SPIN_PROTOCOL_VERSION, SPIN_NETLINK_CONFIG,
		SPIN_NETLINK_TRAFFIC, spin_mode_name);
	return 0;

err_pernet:
	unregister_pernet_subsys(&spin_net_ops);
err_wq:
	destroy_workqueue(spin_wq);
err_scratch:
	spin_dns_scratch_free();
	return err;
}

static void __exit spin_exit(void)
{
	spin_netlink_notifier_unregister();
	unregister_pernet_subsys(&spin_net_ops);
	destroy_workqueue(spin_wq);
	spin_dns_scratch_free();
}

module_init(spin_init);
module_exit(spin_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("SPIN traffic collector: per-second flows, DNS, block/except/ignore over netlink v1");
MODULE_AUTHOR("The spin authors");
