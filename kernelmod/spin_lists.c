// SPDX-License-Identifier: GPL-2.0
/*
 * The block, except and ignore address sets: RCU hash tables the hooks read
 * without locks, changed only under spin_net.lock.
 */
#include <linux/rhashtable.h>
#include <linux/slab.h>

#include "spin_internal.h"

struct spin_addr_entry {
	struct rhash_head node;
	struct spin_addr_key key;
	struct list_head list;
	struct rcu_head rcu;
};

static const struct rhashtable_params spin_addr_params = {
	.key_len = sizeof(struct spin_addr_key),
	.key_offset = offsetof(struct spin_addr_entry, key),
	.head_offset = offsetof(struct spin_addr_entry, node),
	.automatic_shrinking = true,
};

int spin_lists_init(struct spin_list *lists)
{
	int i, err;

	for (i = 0; i < SPIN_LIST_COUNT; i++) {
		INIT_LIST_HEAD(&lists[i].entries);
		lists[i].count = 0;
		err = rhashtable_init(&lists[i].ht, &spin_addr_params);
		if (err)
			goto err_undo;
	}
	return 0;

err_undo:
	while (--i >= 0)
		rhashtable_destroy(&lists[i].ht);
	return err;
}

/* Called when no hook can run any more (after an RCU grace period). */
void spin_lists_destroy(struct spin_list *lists)
{
	struct spin_addr_entry *e, *tmp;
	int i;

	for (i = 0; i < SPIN_LIST_COUNT; i++) {
		rhashtable_destroy(&lists[i].ht);
		list_for_each_entry_safe(e, tmp, &lists[i].entries, list) {
			list_del(&e->list);
			kfree(e);
		}
		lists[i].count = 0;
	}
}

/* Any context; the hooks call it under rcu_read_lock. */
bool spin_list_contains(struct spin_list *l, const struct spin_addr_key *k)
{
	return rhashtable_lookup_fast(&l->ht, k, spin_addr_params) != NULL;
}

/* Caller holds spin_net.lock. Adding an address that is there is no error. */
int spin_list_add(struct spin_list *l, const struct spin_addr_key *k)
{
	struct spin_addr_entry *e;
	int err;

	if (l->count >= READ_ONCE(spin_list_max))
		return -ENOSPC;
	e = kzalloc(sizeof(*e), GFP_KERNEL);
	if (!e)
		return -ENOMEM;
	e->key = *k;
	err = rhashtable_lookup_insert_fast(&l->ht, &e->node, spin_addr_params);
	if (err) {
		kfree(e);
		return err == -EEXIST ? 0 : err;
	}
	list_add_tail(&e->list, &l->entries);
	WRITE_ONCE(l->count, l->count + 1);
	return 0;
}

static void spin_entry_remove(struct spin_list *l, struct spin_addr_entry *e)
{
	rhashtable_remove_fast(&l->ht, &e->node, spin_addr_params);
	list_del(&e->list);
	WRITE_ONCE(l->count, l->count - 1);
	kfree_rcu(e, rcu);
}

/* Caller holds spin_net.lock. Removing an absent address is no error. */
int spin_list_remove(struct spin_list *l, const struct spin_addr_key *k)
{
	struct spin_addr_entry *e;

	e = rhashtable_lookup_fast(&l->ht, k, spin_addr_params);
	if (e)
		spin_entry_remove(l, e);
	return 0;
}

/* Caller holds spin_net.lock. */
void spin_list_clear(struct spin_list *l)
{
	struct spin_addr_entry *e, *tmp;

	list_for_each_entry_safe(e, tmp, &l->entries, list)
		spin_entry_remove(l, e);
}

/* Caller holds spin_net.lock. */
unsigned int spin_list_snapshot(struct spin_list *l, struct spin_addr_key *out,
				unsigned int max)
{
	struct spin_addr_entry *e;
	unsigned int n = 0;

	list_for_each_entry(e, &l->entries, list) {
		if (n == max)
			break;
		out[n++] = e->key;
	}
	return n;
}
