// SPDX-License-Identifier: GPL-2.0
/*
 * spin_kt_config: a protocol-30 client of spin.ko for the VM test.
 *
 *   spin_kt_config [-V version] COMMAND [ADDRESS]
 *
 * COMMAND is get-ignore, add-ignore, remove-ignore, clear-ignore, the same
 * for block and except, or a number (sent as is). Sends one command and
 * prints every response until END, one line each:
 *
 *   IP <address>   ERR <text>   END   (NLERR <errno> for a netlink error)
 *
 * Exits 0 when END arrived (END must be the last response: anything after
 * it within 200 ms is reported as "AFTER_END" and exits 1), 1 when no END
 * came within 5 seconds, 2 on a usage or socket error.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "spin_netlink.h"

static const char *const names[] = {
	NULL, "get-ignore", "add-ignore", "remove-ignore", "clear-ignore",
	"get-block", "add-block", "remove-block", "clear-block",
	"get-except", "add-except", "remove-except", "clear-except",
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Prints the responses of one datagram; returns 1 when END was among them,
 * -1 when something followed END in it. */
static int print_responses(const uint8_t *buf, int len, int *after_end)
{
	const struct nlmsghdr *h;
	int end = 0;

	for (h = (const struct nlmsghdr *)buf; NLMSG_OK(h, len);
	     h = NLMSG_NEXT(h, len)) {
		const uint8_t *p = NLMSG_DATA(h), *data;
		size_t plen = h->nlmsg_len - NLMSG_HDRLEN, dlen;
		uint8_t version, resp;
		char a[64];

		if (end || *after_end) {
			printf("AFTER_END\n");
			return -1;
		}
		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(h);

			printf("NLERR %d\n", -e->error);
			continue;
		}
		if (spin_resp_unpack(p, plen, &version, &resp, &data, &dlen)) {
			printf("SHORT\n");
			continue;
		}
		if (version != SPIN_PROTOCOL_VERSION)
			printf("VERSION %u ", version);
		switch (resp) {
		case SPIN_RESP_IP:
			if (dlen >= 1 && spin_addr_len(data[0]) == dlen - 1) {
				inet_ntop(data[0] == SPIN_AF_INET ? AF_INET :
					  AF_INET6, data + 1, a, sizeof(a));
				printf("IP %s\n", a);
			} else {
				printf("BAD_IP dlen=%zu\n", dlen);
			}
			break;
		case SPIN_RESP_ERR:
			printf("ERR %.*s\n", (int)dlen, (const char *)data);
			break;
		case SPIN_RESP_END:
			printf("END\n");
			end = 1;
			break;
		default:
			printf("UNKNOWN %u\n", resp);
		}
	}
	return end;
}

int main(int argc, char **argv)
{
	struct sockaddr_nl local = { .nl_family = AF_NETLINK };
	struct sockaddr_nl to = { .nl_family = AF_NETLINK };
	int version = SPIN_PROTOCOL_VERSION, opt, fd, cmd = 0, got_end = 0;
	uint8_t addr[16], family = 0;
	static uint8_t buf[1 << 16];
	struct {
		struct nlmsghdr h;
		uint8_t data[SPIN_CMD_MAX_LEN];
	} m;
	long long deadline;
	size_t len;
	unsigned int i;

	while ((opt = getopt(argc, argv, "V:")) != -1) {
		if (opt != 'V')
			return 2;
		version = atoi(optarg);
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: %s [-V version] COMMAND [ADDRESS]\n",
			argv[0]);
		return 2;
	}
	for (i = 1; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(argv[optind], names[i]))
			cmd = (int)i;
	if (!cmd)
		cmd = atoi(argv[optind]);
	if (cmd <= 0 || cmd > 255) {
		fprintf(stderr, "unknown command %s\n", argv[optind]);
		return 2;
	}
	if (optind + 1 < argc) {
		if (inet_pton(AF_INET, argv[optind + 1], addr) == 1) {
			family = SPIN_AF_INET;
		} else if (inet_pton(AF_INET6, argv[optind + 1], addr) == 1) {
			family = SPIN_AF_INET6;
		} else {
			fprintf(stderr, "bad address %s\n", argv[optind + 1]);
			return 2;
		}
	}

	memset(&m, 0, sizeof(m));
	len = spin_cmd_pack(m.data, (uint8_t)cmd, family, addr);
	if (!len) {
		fprintf(stderr, "command %d needs an address\n", cmd);
		return 2;
	}
	m.data[0] = (uint8_t)version;
	m.h.nlmsg_len = NLMSG_LENGTH(len);
	m.h.nlmsg_type = NLMSG_MIN_TYPE;
	m.h.nlmsg_flags = NLM_F_REQUEST;
	m.h.nlmsg_seq = 4242;

	fd = socket(AF_NETLINK, SOCK_RAW, SPIN_NETLINK_CONFIG);
	if (fd < 0) {
		perror("socket(NETLINK 30)");
		return 2;
	}
	if (bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0 ||
	    sendto(fd, &m, m.h.nlmsg_len, 0, (struct sockaddr *)&to,
		   sizeof(to)) < 0) {
		perror("send");
		return 2;
	}

	deadline = now_ms() + 5000;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left = deadline - now_ms();
		ssize_t n;
		int r;

		if (left <= 0)
			break;
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0)
			continue;
		r = print_responses(buf, (int)n, &got_end);
		if (r < 0)
			return 1;
		if (r > 0 && !got_end) {
			got_end = 1;
			/* Nothing may follow END: look a little longer. */
			deadline = now_ms() + 200;
		}
	}
	fflush(stdout);
	if (!got_end) {
		printf("TIMEOUT\n");
		return 1;
	}
	return 0;
}
