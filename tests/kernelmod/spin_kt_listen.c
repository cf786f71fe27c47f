// SPDX-License-Identifier: GPL-2.0
/*
 * spin_kt_listen: a protocol-31 client of spin.ko for the VM test.
 *
 * Registers on the traffic channel, pings every 50 messages (as old clients
 * do), and prints every record as one line:
 *
 *   TRAFFIC|BLOCKED <family> <proto> <src> <dst> <sport> <dport>
 *                   <packets> <bytes> <payload-offset>     (one line)
 *   DNS_ANSWER|DNS_QUERY <family> <address> <ttl> <name>
 *
 * with the stream flushed after every datagram, so a script can wait for a
 * line. On exit it prints "# records=N datagrams=D enobufs=E" to stderr.
 * A refused registration (a netlink error from the module) prints
 * "REGISTER_ERROR <errno>" and exits 3.
 *
 * Options: -t SECONDS  stop after this long (default 60)
 *          -r BYTES    SO_RCVBUF
 *          -z MS       after registering, do not read for this long (to
 *                      make the module's per-listener backlog overflow)
 *          -p N        ping every N messages (0: never; default 50)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "spin_netlink.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int send_msg(int fd, const char *text)
{
	struct {
		struct nlmsghdr h;
		char data[16];
	} m;
	struct sockaddr_nl to = { .nl_family = AF_NETLINK };
	size_t len = strlen(text);

	memset(&m, 0, sizeof(m));
	memcpy(m.data, text, len);
	m.h.nlmsg_len = NLMSG_LENGTH(len);
	m.h.nlmsg_type = NLMSG_MIN_TYPE;
	return sendto(fd, &m, m.h.nlmsg_len, 0, (struct sockaddr *)&to,
		      sizeof(to)) < 0 ? -1 : 0;
}

static void addr_str(uint8_t family, const uint8_t *a, char *out, size_t n)
{
	if (family == SPIN_AF_INET)
		inet_ntop(AF_INET, a + 12, out, n);
	else if (family == SPIN_AF_INET6)
		inet_ntop(AF_INET6, a, out, n);
	else
		snprintf(out, n, "family-%u", family);
}

/* Wire name to dotted text (root alone is "."). */
static void name_str(const uint8_t *name, unsigned int len, char *out)
{
	unsigned int pos = 0, o = 0;

	while (pos < len && name[pos]) {
		unsigned int l = name[pos], i;

		if (o)
			out[o++] = '.';
		for (i = 1; i <= l && pos + i < len; i++) {
			uint8_t c = name[pos + i];

			out[o++] = (c > 32 && c < 127) ? (char)c : '?';
		}
		pos += l + 1;
	}
	if (!o)
		out[o++] = '.';
	out[o] = 0;
}

int main(int argc, char **argv)
{
	long long deadline, stall_until = 0;
	unsigned long long records = 0, datagrams = 0, enobufs = 0, since = 0;
	int seconds = 60, rcvbuf = 0, stall_ms = 0, ping_every = 50, opt, fd;
	static uint8_t buf[1 << 16];
	struct sockaddr_nl local = { .nl_family = AF_NETLINK };
	struct sigaction sa;

	while ((opt = getopt(argc, argv, "t:r:z:p:")) != -1) {
		switch (opt) {
		case 't': seconds = atoi(optarg); break;
		case 'r': rcvbuf = atoi(optarg); break;
		case 'z': stall_ms = atoi(optarg); break;
		case 'p': ping_every = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-t s] [-r bytes] [-z ms] [-p n]\n",
				argv[0]);
			return 2;
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	fd = socket(AF_NETLINK, SOCK_RAW, SPIN_NETLINK_TRAFFIC);
	if (fd < 0) {
		perror("socket(NETLINK 31)");
		return 2;
	}
	if (rcvbuf && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
				 sizeof(rcvbuf)) < 0)
		perror("SO_RCVBUF");
	if (bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0) {
		perror("bind");
		return 2;
	}
	if (send_msg(fd, "Hello!") < 0) {
		perror("register");
		return 2;
	}
	deadline = now_ms() + (long long)seconds * 1000;
	if (stall_ms)
		stall_until = now_ms() + stall_ms;

	while (!stop) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left = deadline - now_ms();
		struct nlmsghdr *h;
		ssize_t n;
		int rem;

		if (left <= 0)
			break;
		if (stall_until) {
			long long s = stall_until - now_ms();

			if (s > 0) {
				poll(NULL, 0, (int)(s < left ? s : left));
				continue;
			}
			stall_until = 0;
		}
		if (poll(&p, 1, (int)(left > 1000 ? 1000 : left)) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == ENOBUFS)
				enobufs++;
			continue;
		}
		datagrams++;
		rem = (int)n;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, rem);
		     h = NLMSG_NEXT(h, rem)) {
			const uint8_t *d = NLMSG_DATA(h);
			size_t dlen = h->nlmsg_len - NLMSG_HDRLEN;
			uint8_t version, type;
			uint16_t size;
			char a[64], b[64], name[300];

			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				printf("REGISTER_ERROR %d\n", -e->error);
				fflush(stdout);
				return 3;
			}
			if (spin_msg_unpack_header(d, dlen, &version, &type,
						   &size) < 0 ||
			    version != SPIN_PROTOCOL_VERSION) {
				printf("BAD_MESSAGE len=%zu\n", dlen);
				continue;
			}
			records++;
			d += SPIN_MSG_HDR_LEN;
			if (type == SPIN_MSG_TRAFFIC || type == SPIN_MSG_BLOCKED) {
				struct spin_flow_record r;

				if (spin_flow_unpack(d, size, &r) < 0) {
					printf("BAD_FLOW size=%u\n", size);
					continue;
				}
				addr_str(r.family, r.src, a, sizeof(a));
				addr_str(r.family, r.dst, b, sizeof(b));
				printf("%s %u %u %s %s %u %u %u %u %u\n",
				       type == SPIN_MSG_TRAFFIC ? "TRAFFIC" :
				       "BLOCKED", r.family, r.proto, a, b,
				       r.sport, r.dport, r.packets, r.bytes,
				       r.payload_offset);
			} else if (type == SPIN_MSG_DNS_ANSWER ||
				   type == SPIN_MSG_DNS_QUERY) {
				static struct spin_dns_record r;

				if (spin_dns_unpack(d, size, &r) < 0) {
					printf("BAD_DNS size=%u\n", size);
					continue;
				}
				addr_str(r.family, r.addr, a, sizeof(a));
				name_str(r.name, r.name_len, name);
				printf("%s %u %s %u %s\n",
				       type == SPIN_MSG_DNS_ANSWER ? "DNS_ANSWER" :
				       "DNS_QUERY", r.family, a, r.ttl, name);
			} else {
				printf("UNKNOWN type=%u size=%u\n", type, size);
			}
			if (ping_every && ++since >= (unsigned int)ping_every) {
				since = 0;
				send_msg(fd, "ping");
			}
		}
		fflush(stdout);
	}
	fflush(stdout);
	fprintf(stderr, "# records=%llu datagrams=%llu enobufs=%llu\n",
		records, datagrams, enobufs);
	close(fd);
	return 0;
}
