// SPDX-License-Identifier: GPL-2.0
/*
 * The netlink side: protocol 31 (registration and pings of traffic
 * listeners) and protocol 30 (block/except/ignore commands), per network
 * namespace.
 *
 * Commands are parsed and their sender's CAP_NET_ADMIN checked in the
 * sender's context, then executed in order by a work item, which sends the
 * responses one per datagram with a bounded blocking send: a GET of a long
 * list streams at the reader's pace instead of overflowing its socket, and
 * a reader that stops reading costs at most a second per command. END is
 * sent after every command, whatever happened to it.
 */
#include <linux/capability.h>
#include <linux/netlink.h>
#include <linux/notifier.h>
#include <linux/slab.h>
#include <net/netlink.h>
#include <net/sock.h>

#include "spin_internal.h"

/* ---------------------------------------------------------------- listeners */

void spin_listener_free(struct spin_listener *l)
{
	__skb_queue_purge(&l->backlog);
	kfree(l);
}

static struct spin_listener *spin_listener_find(struct spin_net *sn,
						u32 portid)
{
	unsigned int i;

	for (i = 0; i < sn->nlisteners; i++)
		if (sn->listeners[i]->portid == portid)
			return sn->listeners[i];
	return NULL;
}

/* A message on protocol 31: the first registers, later ones are pings. */
static int spin_listener_ping(struct spin_net *sn, u32 portid)
{
	struct spin_listener *l;
	int err = 0;

	mutex_lock(&sn->lock);
	if (sn->dying) {
		err = -ENODEV;
		goto out;
	}
	l = spin_listener_find(sn, portid);
	if (l) {
		if (l->dead) {
			/* A new socket that got the port id of a closed one. */
			__skb_queue_purge(&l->backlog);
			l->dead = false;
			l->registered = jiffies;
			l->pings = 0;
		}
		l->last_ping = jiffies;
		l->pings++;
		if (!skb_queue_empty(&l->backlog))
			spin_kick(sn);
		goto out;
	}
	if (sn->nlisteners >= min_t(unsigned int, spin_max_listeners,
				    SPIN_MAX_LISTENERS_LIMIT)) {
		err = -ENOSPC;
		goto out;
	}
	err = spin_tables_alloc(sn);
	if (err)
		goto out;
	if (!sn->nlisteners)
		spin_tables_reset(sn);
	l = kzalloc(sizeof(*l), GFP_KERNEL);
	if (!l) {
		err = -ENOMEM;
		goto out;
	}
	l->portid = portid;
	l->registered = jiffies;
	l->last_ping = jiffies;
	l->pings = 1;
	__skb_queue_head_init(&l->backlog);
	sn->listeners[sn->nlisteners] = l;
	WRITE_ONCE(sn->nlisteners, sn->nlisteners + 1);
	spin_schedule_tick(sn);
out:
	mutex_unlock(&sn->lock);
	return err;
}

static void spin_trf_input(struct sk_buff *skb)
{
	struct spin_net *sn = spin_pernet(sock_net(skb->sk));
	struct nlmsghdr *nlh;
	int err;

	if (skb->len < NLMSG_HDRLEN)
		return;
	nlh = nlmsg_hdr(skb);
	if (nlh->nlmsg_len < NLMSG_HDRLEN || nlh->nlmsg_len > skb->len)
		return;
	if (!netlink_net_capable(skb, CAP_NET_ADMIN)) {
		mutex_lock(&sn->lock);
		sn->trf_denied++;
		mutex_unlock(&sn->lock);
		netlink_ack(skb, nlh, -EPERM, NULL);
		return;
	}
	err = spin_listener_ping(sn, NETLINK_CB(skb).portid);
	if (err)
		netlink_ack(skb, nlh, err, NULL);
}

/* A socket of protocol 31 was closed: its listener goes. */
static int spin_netlink_event(struct notifier_block *nb, unsigned long event,
			      void *ptr)
{
	struct netlink_notify *n = ptr;
	struct spin_listener *l;
	struct spin_net *sn;
	unsigned int i;

	if (event != NETLINK_URELEASE || n->protocol != SPIN_NETLINK_TRAFFIC)
		return NOTIFY_DONE;
	sn = spin_pernet(n->net);
	mutex_lock(&sn->lock);
	l = spin_listener_find(sn, n->portid);
	if (l) {
		for (i = 0; sn->listeners[i] != l; i++)
			;
		sn->listeners[i] = sn->listeners[sn->nlisteners - 1];
		sn->listeners[sn->nlisteners - 1] = NULL;
		WRITE_ONCE(sn->nlisteners, sn->nlisteners - 1);
		spin_listener_free(l);
	}
	mutex_unlock(&sn->lock);
	return NOTIFY_DONE;
}

static struct notifier_block spin_netlink_nb = {
	.notifier_call = spin_netlink_event,
};

int spin_netlink_notifier_register(void)
{
	return netlink_register_notifier(&spin_netlink_nb);
}

void spin_netlink_notifier_unregister(void)
{
	netlink_unregister_notifier(&spin_netlink_nb);
}

/* ---------------------------------------------------------------- commands */

/* Sends one response; after the first failure the rest of a command's
 * responses are not tried. */
static void spin_cfg_reply(struct spin_net *sn, u32 portid, u32 seq, u8 resp,
			   const void *data, unsigned int dlen, bool nonblock,
			   bool *failed)
{
	struct nlmsghdr *nlh;
	struct sk_buff *skb;
	u8 *p;

	if (*failed)
		return;
	skb = nlmsg_new(SPIN_RESP_HDR_LEN + dlen, GFP_KERNEL);
	if (!skb)
		goto fail;
	nlh = nlmsg_put(skb, 0, seq, SPIN_NLMSG_TYPE, SPIN_RESP_HDR_LEN + dlen,
			0);
	if (!nlh) {
		kfree_skb(skb);
		goto fail;
	}
	p = nlmsg_data(nlh);
	p[0] = SPIN_PROTOCOL_VERSION;
	p[1] = resp;
	if (dlen)
		memcpy(p + SPIN_RESP_HDR_LEN, data, dlen);
	/* netlink_unicast consumes the skb whatever happens. */
	if (netlink_unicast(sn->cfg_sk, skb, portid, nonblock ? MSG_DONTWAIT : 0)
	    >= 0)
		return;
fail:
	*failed = true;
	sn->cfg_replies_lost++;
}

static __printf(5, 6)
void spin_cfg_error(struct spin_net *sn, const struct spin_cfg_req *req,
		    bool nonblock, bool *failed, const char *fmt, ...)
{
	char text[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vscnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	spin_cfg_reply(sn, req->portid, req->seq, SPIN_RESP_ERR, text, n,
		       nonblock, failed);
}

static void spin_cfg_end(struct spin_net *sn, const struct spin_cfg_req *req,
			 bool nonblock, bool *failed)
{
	spin_cfg_reply(sn, req->portid, req->seq, SPIN_RESP_END, NULL, 0,
		       nonblock, failed);
}

static void spin_cfg_get(struct spin_net *sn, const struct spin_cfg_req *req,
			 struct spin_list *l, bool *failed)
{
	struct spin_addr_key *keys;
	unsigned int n, i, alen;
	u8 data[1 + 16];

	mutex_lock(&sn->lock);
	n = l->count;
	keys = n ? kvmalloc_array(n, sizeof(*keys), GFP_KERNEL) : NULL;
	if (keys)
		n = spin_list_snapshot(l, keys, n);
	mutex_unlock(&sn->lock);
	if (n && !keys) {
		spin_cfg_error(sn, req, false, failed, "out of memory");
		return;
	}
	for (i = 0; i < n && !*failed; i++) {
		alen = spin_addr_len(keys[i].family);
		data[0] = keys[i].family;
		memcpy(data + 1, &keys[i].addr.s6_addr[16 - alen], alen);
		spin_cfg_reply(sn, req->portid, req->seq, SPIN_RESP_IP, data,
			       1 + alen, false, failed);
	}
	kvfree(keys);
}

static void spin_cfg_change(struct spin_net *sn, const struct spin_cfg_req *req,
			    struct spin_list *l, unsigned int op, bool *failed)
{
	struct spin_addr_key k;
	unsigned int alen;
	int err;

	memset(&k, 0, sizeof(k));
	if (op != 3) {
		if (req->len < SPIN_CMD_HDR_LEN + 1) {
			spin_cfg_error(sn, req, false, failed,
				       "missing address family");
			return;
		}
		k.family = req->data[SPIN_CMD_HDR_LEN];
		alen = spin_addr_len(k.family);
		if (!alen) {
			spin_cfg_error(sn, req, false, failed,
				       "unknown address family %u", k.family);
			return;
		}
		if (req->len < SPIN_CMD_HDR_LEN + 1 + alen) {
			spin_cfg_error(sn, req, false, failed,
				       "address too short");
			return;
		}
		memcpy(&k.addr.s6_addr[16 - alen],
		       req->data + SPIN_CMD_HDR_LEN + 1, alen);
	}

	mutex_lock(&sn->lock);
	err = 0;
	if (op == 1)
		err = spin_list_add(l, &k);
	else if (op == 2)
		err = spin_list_remove(l, &k);
	else
		spin_list_clear(l);
	mutex_unlock(&sn->lock);

	if (err == -ENOSPC)
		spin_cfg_error(sn, req, false, failed,
			       "list full (%u entries)", READ_ONCE(spin_list_max));
	else if (err)
		spin_cfg_error(sn, req, false, failed, "cannot change list: %d",
			       err);
}

static void spin_cfg_exec(struct spin_net *sn, const struct spin_cfg_req *req)
{
	bool failed = false;
	unsigned int cmd;

	sn->cfg_commands++;
	if (req->len < 1) {
		spin_cfg_error(sn, req, false, &failed, "empty command");
	} else if (req->data[0] != SPIN_PROTOCOL_VERSION) {
		spin_cfg_error(sn, req, false, &failed,
			       "unsupported protocol version %u (this module speaks %u)",
			       req->data[0], SPIN_PROTOCOL_VERSION);
	} else if (req->len < SPIN_CMD_HDR_LEN) {
		spin_cfg_error(sn, req, false, &failed, "command too short");
	} else if (!req->privileged) {
		sn->cfg_denied++;
		spin_cfg_error(sn, req, false, &failed,
			       "permission denied: CAP_NET_ADMIN is required");
	} else {
		cmd = req->data[1];
		if (cmd < SPIN_CMD_GET_IGNORE || cmd > SPIN_CMD_CLEAR_EXCEPT) {
			spin_cfg_error(sn, req, false, &failed,
				       "unknown command %u", cmd);
		} else {
			/* 1-4 ignore, 5-8 block, 9-12 except; each GET, ADD,
			 * REMOVE, CLEAR. */
			struct spin_list *l = &sn->lists[(cmd - 1) / 4];
			unsigned int op = (cmd - 1) % 4;

			if (op == 0)
				spin_cfg_get(sn, req, l, &failed);
			else
				spin_cfg_change(sn, req, l, op, &failed);
		}
	}
	/* END always comes last, even when a response before it was lost
	 * (the reader may have made room since). */
	failed = false;
	spin_cfg_end(sn, req, false, &failed);
}

static void spin_cfg_work(struct work_struct *work)
{
	struct spin_net *sn = container_of(work, struct spin_net, cfg_work);
	struct spin_cfg_req *req;

	for (;;) {
		spin_lock(&sn->cfg_qlock);
		req = list_first_entry_or_null(&sn->cfg_queue,
					       struct spin_cfg_req, node);
		if (req) {
			list_del(&req->node);
			sn->cfg_qlen--;
		}
		spin_unlock(&sn->cfg_qlock);
		if (!req)
			break;
		spin_cfg_exec(sn, req);
		kfree(req);
		cond_resched();
	}
}

static void spin_cfg_input(struct sk_buff *skb)
{
	struct spin_net *sn = spin_pernet(sock_net(skb->sk));
	bool privileged = netlink_net_capable(skb, CAP_NET_ADMIN);
	struct nlmsghdr *nlh = nlmsg_hdr(skb);
	int rem = skb->len;

	for (; nlmsg_ok(nlh, rem); nlh = nlmsg_next(nlh, &rem)) {
		struct spin_cfg_req *req;
		bool queued = false, failed = false;

		req = kzalloc(sizeof(*req), GFP_KERNEL);
		if (!req)
			continue;
		req->portid = NETLINK_CB(skb).portid;
		req->seq = nlh->nlmsg_seq;
		req->privileged = privileged;
		req->len = min_t(int, nlmsg_len(nlh), SPIN_CMD_MAX_LEN);
		memcpy(req->data, nlmsg_data(nlh), req->len);

		spin_lock(&sn->cfg_qlock);
		if (!sn->dying && sn->cfg_qlen < SPIN_CFG_QUEUE_MAX) {
			list_add_tail(&req->node, &sn->cfg_queue);
			sn->cfg_qlen++;
			queue_work(spin_wq, &sn->cfg_work);
			queued = true;
		}
		spin_unlock(&sn->cfg_qlock);
		if (queued)
			continue;
		/* Too many commands waiting: refuse this one at once. */
		spin_cfg_error(sn, req, true, &failed,
			       "busy: too many commands waiting");
		failed = false;
		spin_cfg_end(sn, req, true, &failed);
		kfree(req);
	}
}

/* ---------------------------------------------------------------- setup */

int spin_netlink_net_init(struct spin_net *sn)
{
	struct netlink_kernel_cfg cfg = { .input = spin_cfg_input };
	struct netlink_kernel_cfg trf = { .input = spin_trf_input };

	INIT_WORK(&sn->cfg_work, spin_cfg_work);
	sn->cfg_sk = netlink_kernel_create(sn->net, SPIN_NETLINK_CONFIG, &cfg);
	if (!sn->cfg_sk)
		return -EADDRINUSE;
	/* Bounds the blocking sends of responses (see above). */
	sn->cfg_sk->sk_sndtimeo = HZ;
	sn->trf_sk = netlink_kernel_create(sn->net, SPIN_NETLINK_TRAFFIC, &trf);
	if (!sn->trf_sk) {
		netlink_kernel_release(sn->cfg_sk);
		sn->cfg_sk = NULL;
		return -EADDRINUSE;
	}
	return 0;
}

void spin_netlink_net_exit(struct spin_net *sn)
{
	struct spin_cfg_req *req, *tmp;
	unsigned int i;

	mutex_lock(&sn->lock);
	sn->dying = true;
	mutex_unlock(&sn->lock);
	spin_lock(&sn->cfg_qlock);
	sn->dying = true;
	list_for_each_entry_safe(req, tmp, &sn->cfg_queue, node) {
		list_del(&req->node);
		kfree(req);
	}
	sn->cfg_qlen = 0;
	spin_unlock(&sn->cfg_qlock);

	cancel_work_sync(&sn->cfg_work);
	cancel_delayed_work_sync(&sn->flush_work);
	netlink_kernel_release(sn->trf_sk);
	netlink_kernel_release(sn->cfg_sk);

	for (i = 0; i < sn->nlisteners; i++) {
		spin_listener_free(sn->listeners[i]);
		sn->listeners[i] = NULL;
	}
	sn->nlisteners = 0;
}
