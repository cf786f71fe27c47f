// SPDX-License-Identifier: GPL-2.0
/*
 * spin_kt_traffic: traffic with known packet and byte counts for the spin.ko
 * VM test, and the small tools around it.
 *
 *   serve PORT                 echo server: UDP and TCP echo on PORT, a UDP
 *                              sink on PORT+1, DNS on port 53 (UDP and TCP),
 *                              IPv4 and IPv6; runs until killed
 *   udp SPORT DST PORT COUNT SIZE [WAIT_MS]
 *                              COUNT datagrams of SIZE bytes from SPORT, each
 *                              waiting for its echo (WAIT_MS, default 2000)
 *   udp6x SPORT DST PORT COUNT SIZE [WAIT_MS]
 *                              the same over IPv6 with a destination
 *                              options extension header on every datagram
 *   tcp SPORT DST PORT COUNT SIZE
 *                              a connection from SPORT, COUNT messages of
 *                              SIZE bytes echoed one at a time, then closed
 *   dns SPORT SERVER NAME A|AAAA [tcp]
 *                              one DNS query, waits for the answer
 *   dnsbad DST PORT            malformed and tricky DNS responses from port
 *                              53 (see dns_bad())
 *   flood DST PORT NPORTS SECONDS MAXPKTS SIZE
 *                              UDP to PORT..PORT+NPORTS-1 in turn, as fast
 *                              as it goes, bounded by SECONDS and MAXPKTS;
 *                              prints the count and the ns per packet
 *   sniff IF1 IF2 READYFILE STOPFILE
 *                              counts the IP packets received on IF1 and IF2
 *                              (AF_PACKET) per flow until STOPFILE exists
 *   nobody PROGRAM ARGS...     runs PROGRAM as uid/gid 65534 (no capability)
 *
 * The server answers every DNS query the same way: a name whose first label
 * is "cname" gets "CNAME target.example.org" (TTL 100) and an address of the
 * target (TTL 50: 198.51.100.7 or 2001:db8:99::7); other names get A
 * 192.0.2.1 (TTL 300) and 192.0.2.2 (TTL 301), or AAAA 2001:db8::1 (TTL
 * 600). Answers use compression pointers.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int die(const char *what)
{
	perror(what);
	exit(2);
}

/* Parses an IPv4 or IPv6 address and port into @ss; returns its length. */
static socklen_t make_addr(const char *host, int port,
			   struct sockaddr_storage *ss)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		return sizeof(*a4);
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		return sizeof(*a6);
	}
	fprintf(stderr, "bad address %s\n", host);
	exit(2);
}

/* A socket of @family and @type bound to port @port of any address. */
static int bound_socket(int family, int type, int port)
{
	struct sockaddr_storage ss;
	int fd = socket(family, type, 0), one = 1;
	socklen_t len;

	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	len = make_addr(family == AF_INET ? "0.0.0.0" : "::", port, &ss);
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		die("bind");
	return fd;
}

static int wait_fd(int fd, int events, int ms)
{
	struct pollfd p = { .fd = fd, .events = (short)events };

	return poll(&p, 1, ms) > 0;
}

/* ---------------------------------------------------------------- DNS */

static void put16(uint8_t *p, unsigned int v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

/* Writes @name ("a.b.c") in wire format; returns its length. */
static size_t wire_name(const char *name, uint8_t *out)
{
	size_t o = 0;

	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);

		out[o++] = (uint8_t)l;
		memcpy(out + o, name, l);
		o += l;
		name += l;
		if (*name == '.')
			name++;
	}
	out[o++] = 0;
	return o;
}

/* Appends a resource record; @owner is a compression pointer target. */
static size_t put_rr(uint8_t *p, unsigned int owner, unsigned int type,
		     uint32_t ttl, const uint8_t *rdata, size_t rdlen)
{
	put16(p, 0xc000 | owner);
	put16(p + 2, type);
	put16(p + 4, 1);
	put32(p + 6, ttl);
	put16(p + 10, (unsigned int)rdlen);
	memcpy(p + 12, rdata, rdlen);
	return 12 + rdlen;
}

/* Builds the answer to query @q (@qlen bytes) into @r; returns its length
 * or 0 when the query is not one this server understands. */
static size_t dns_answer(const uint8_t *q, size_t qlen, uint8_t *r)
{
	size_t pos = 12, len, target_off;
	unsigned int qtype, an = 0;
	uint8_t target[64];

	if (qlen < 12 + 5)
		return 0;
	while (pos < qlen && q[pos])
		pos += q[pos] + 1;
	if (pos + 5 > qlen)
		return 0;
	qtype = (q[pos + 1] << 8) | q[pos + 2];
	pos += 5;
	memcpy(r, q, pos);
	r[2] = 0x80 | (q[2] & 0x01);	/* QR, RD copied */
	r[3] = 0x80;			/* RA */
	len = pos;
	if (q[12] == 5 && !memcmp(q + 13, "cname", 5)) {
		size_t tl = wire_name("target.example.org", target);

		len += put_rr(r + len, 12, 5, 100, target, tl);
		target_off = len - tl;
		an++;
		if (qtype == 1)
			len += put_rr(r + len, (unsigned int)target_off, 1, 50,
				      (const uint8_t *)"\xc6\x33\x64\x07", 4);
		else
			len += put_rr(r + len, (unsigned int)target_off, 28, 50,
				      (const uint8_t *)"\x20\x01\x0d\xb8\x00\x99"
				      "\0\0\0\0\0\0\0\0\0\x07", 16);
		an++;
	} else if (qtype == 1) {
		len += put_rr(r + len, 12, 1, 300,
			      (const uint8_t *)"\xc0\x00\x02\x01", 4);
		len += put_rr(r + len, 12, 1, 301,
			      (const uint8_t *)"\xc0\x00\x02\x02", 4);
		an = 2;
	} else {
		len += put_rr(r + len, 12, 28, 600,
			      (const uint8_t *)"\x20\x01\x0d\xb8\0\0\0\0"
			      "\0\0\0\0\0\0\0\x01", 16);
		an = 1;
	}
	put16(r + 6, an);
	return len;
}

/*
 * Sends DNS responses from port 53 to DST:PORT: 8 malformed ones the module
 * must reject whole (a pointer to itself, a forward pointer, a truncated
 * label, an 0x40 label type, RDATA past the end, an A record of 5 bytes, a
 * count larger than the message, a 320-byte name), then 3 valid ones: a
 * CNAME loop a->b->a beside an address of c.example (only c is reported),
 * ok.example A 203.0.113.9 TTL 77, neg.example with TTL 0x80000001 (read
 * as 0).
 */
static int dns_bad(const char *dst, int port)
{
	static const uint8_t q_a[] = { 1, 'a', 0, 0, 1, 0, 1 };
	struct sockaddr_storage to;
	socklen_t tolen = make_addr(dst, port, &to);
	int fd = bound_socket(to.ss_family, SOCK_DGRAM, 53), i, sent = 0;
	uint8_t m[12][600];
	size_t len[12];
	unsigned int n = 0, k;

	memset(m, 0, sizeof(m));
	for (k = 0; k < 12; k++) {
		put16(m[k] + 2, 0x8180);
		len[k] = 12;
	}
	/* 0: question name is a pointer to itself */
	put16(m[n] + 4, 1);
	memcpy(m[n] + 12, "\xc0\x0c\0\1\0\1", 6);
	len[n++] = 18;
	/* 1: truncated label */
	put16(m[n] + 4, 1);
	memcpy(m[n] + 12, "\3ab", 3);
	len[n++] = 15;
	/* 2: 0x40 label type */
	put16(m[n] + 6, 1);
	m[n][12] = 0x40;
	len[n++] = 23;
	/* 3: RDATA runs past the end */
	put16(m[n] + 4, 1);
	put16(m[n] + 6, 1);
	memcpy(m[n] + 12, q_a, 7);
	memcpy(m[n] + 19, "\xc0\x0c\0\1\0\1\0\0\0\x3c\0\4\xc0\0", 14);
	len[n++] = 33;
	/* 4: an A record of 5 bytes */
	put16(m[n] + 4, 1);
	put16(m[n] + 6, 1);
	memcpy(m[n] + 12, q_a, 7);
	memcpy(m[n] + 19, "\xc0\x0c\0\1\0\1\0\0\0\x3c\0\5\1\2\3\4\5", 17);
	len[n++] = 36;
	/* 5: 65535 answers announced */
	put16(m[n] + 4, 1);
	put16(m[n] + 6, 0xffff);
	memcpy(m[n] + 12, q_a, 7);
	len[n++] = 19;
	/* 6: a name of 320 octets */
	put16(m[n] + 4, 1);
	for (k = 0; k < 5; k++) {
		m[n][12 + k * 64] = 63;
		memset(m[n] + 13 + k * 64, 'x', 63);
	}
	memcpy(m[n] + 12 + 320, "\0\0\1\0\1", 5);
	len[n++] = 12 + 325;
	/* 7: owner is a forward pointer */
	put16(m[n] + 4, 1);
	put16(m[n] + 6, 1);
	memcpy(m[n] + 12, q_a, 7);
	memcpy(m[n] + 19, "\xc0\xff\0\1\0\1\0\0\0\x3c\0\4\1\2\3\4", 16);
	len[n++] = 35;
	/* 8: a.example CNAME b.example, b.example CNAME a.example,
	 * c.example A 203.0.113.10 TTL 60 */
	put16(m[n] + 4, 1);
	put16(m[n] + 6, 3);
	memcpy(m[n] + 12, "\1a\7example\0\0\1\0\1", 15);
	/* 27: a.example CNAME, rdata at 39: 01 'b' c0 0e */
	memcpy(m[n] + 27, "\xc0\x0c\0\5\0\1\0\0\0\x3c\0\4\1b\xc0\x0e", 16);
	/* 43: b.example (pointer to 39) CNAME a.example */
	memcpy(m[n] + 43, "\xc0\x27\0\5\0\1\0\0\0\x3c\0\2\xc0\x0c", 14);
	/* 57: c.example A */
	memcpy(m[n] + 57, "\1c\xc0\x0e\0\1\0\1\0\0\0\x3c\0\4\xcb\0\x71\x0a", 18);
	len[n++] = 75;
	/* 9: ok.example A 203.0.113.9 TTL 77 */
	put16(m[n] + 4, 1);
	put16(m[n] + 6, 1);
	memcpy(m[n] + 12, "\2ok\7example\0\0\1\0\1", 16);
	memcpy(m[n] + 28, "\xc0\x0c\0\1\0\1\0\0\0\x4d\0\4\xcb\0\x71\x09", 16);
	len[n++] = 44;
	/* 10: neg.example A 203.0.113.11 TTL 0x80000001 */
	put16(m[n] + 4, 1);
	put16(m[n] + 6, 1);
	memcpy(m[n] + 12, "\3neg\7example\0\0\1\0\1", 17);
	memcpy(m[n] + 29, "\xc0\x0c\0\1\0\1\x80\0\0\1\0\4\xcb\0\x71\x0b", 16);
	len[n++] = 45;

	for (k = 0; k < n; k++)
		if (sendto(fd, m[k], len[k], 0, (struct sockaddr *)&to,
			   tolen) == (ssize_t)len[k])
			sent++;
	i = sent;
	printf("dnsbad sent=%d\n", i);
	return 0;
}

/* ---------------------------------------------------------------- serve */

enum { L_UDP_ECHO, L_UDP_SINK, L_UDP_DNS, L_TCP_ECHO, L_TCP_DNS, C_ECHO,
       C_DNS };

struct slot {
	int fd;
	int kind;
	size_t have;
	uint8_t buf[4096];
};

static int serve(int port)
{
	static struct slot slots[64];
	struct pollfd pfd[64];
	static const int fams[] = { AF_INET, AF_INET6 };
	int n = 0, i;
	unsigned long long sunk = 0;

	for (i = 0; i < 2; i++) {
		slots[n].fd = bound_socket(fams[i], SOCK_DGRAM, port);
		slots[n++].kind = L_UDP_ECHO;
		slots[n].fd = bound_socket(fams[i], SOCK_DGRAM, port + 1);
		slots[n++].kind = L_UDP_SINK;
		slots[n].fd = bound_socket(fams[i], SOCK_DGRAM, 53);
		slots[n++].kind = L_UDP_DNS;
		slots[n].fd = bound_socket(fams[i], SOCK_STREAM, port);
		slots[n++].kind = L_TCP_ECHO;
		slots[n].fd = bound_socket(fams[i], SOCK_STREAM, 53);
		slots[n++].kind = L_TCP_DNS;
	}
	for (i = 0; i < n; i++) {
		int big = 1 << 20;

		setsockopt(slots[i].fd, SOL_SOCKET, SO_RCVBUF, &big,
			   sizeof(big));
		if (slots[i].kind >= L_TCP_ECHO && listen(slots[i].fd, 16) < 0)
			die("listen");
	}
	printf("serving\n");
	fflush(stdout);

	for (;;) {
		for (i = 0; i < n; i++) {
			pfd[i].fd = slots[i].fd;
			pfd[i].events = POLLIN;
			pfd[i].revents = 0;
		}
		if (poll(pfd, (nfds_t)n, -1) < 0)
			continue;
		for (i = 0; i < n; i++) {
			struct slot *s = &slots[i];
			struct sockaddr_storage from;
			socklen_t fl = sizeof(from);
			uint8_t buf[65536], out[4096];
			ssize_t r;
			size_t ol;

			if (!pfd[i].revents)
				continue;
			switch (s->kind) {
			case L_UDP_ECHO:
			case L_UDP_SINK:
			case L_UDP_DNS:
				r = recvfrom(s->fd, buf, sizeof(buf),
					     MSG_DONTWAIT,
					     (struct sockaddr *)&from, &fl);
				if (r < 0)
					break;
				if (s->kind == L_UDP_ECHO)
					sendto(s->fd, buf, (size_t)r, 0,
					       (struct sockaddr *)&from, fl);
				else if (s->kind == L_UDP_SINK)
					sunk++;
				else if ((ol = dns_answer(buf, (size_t)r, out)))
					sendto(s->fd, out, ol, 0,
					       (struct sockaddr *)&from, fl);
				break;
			case L_TCP_ECHO:
			case L_TCP_DNS: {
				int c = accept(s->fd, NULL, NULL), one = 1;

				if (c < 0 || n == 64) {
					if (c >= 0)
						close(c);
					break;
				}
				setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one,
					   sizeof(one));
				slots[n].fd = c;
				slots[n].kind = s->kind == L_TCP_ECHO ? C_ECHO :
						C_DNS;
				slots[n].have = 0;
				n++;
				break;
			}
			default:
				r = read(s->fd, s->buf + s->have,
					 sizeof(s->buf) - s->have);
				if (r > 0 && s->kind == C_ECHO) {
					if (write(s->fd, s->buf, (size_t)r) != r)
						r = 0;
				} else if (r > 0) {
					size_t ml;

					s->have += (size_t)r;
					if (s->have < 2)
						break;
					ml = (s->buf[0] << 8) | s->buf[1];
					if (s->have < 2 + ml)
						break;
					ol = dns_answer(s->buf + 2, ml, out + 2);
					put16(out, (unsigned int)ol);
					if (ol && write(s->fd, out, ol + 2) < 0)
						r = 0;
					s->have = 0;
				}
				if (r <= 0 || s->have == sizeof(s->buf)) {
					close(s->fd);
					slots[i] = slots[n - 1];
					pfd[i] = pfd[n - 1];
					n--;
					i--;
				}
			}
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- clients */

static int client_socket(const char *dst, int type, int sport,
			 struct sockaddr_storage *to, socklen_t *tolen,
			 int port)
{
	int fd;

	*tolen = make_addr(dst, port, to);
	fd = bound_socket(to->ss_family, type, sport);
	return fd;
}

static int udp_client(int sport, const char *dst, int port, int count,
		      int size, int wait_ms, int dstopts)
{
	struct sockaddr_storage to;
	socklen_t tolen;
	int fd = client_socket(dst, SOCK_DGRAM, sport, &to, &tolen, port);
	int i, sent = 0, received = 0;
	uint8_t buf[65536];

	if (size > (int)sizeof(buf))
		size = sizeof(buf);
	memset(buf, 'u', (size_t)size);
	if (dstopts) {
		/* An 8-byte destination options header (one PadN option):
		 * the IPv6 packets carry an extension header before UDP. */
		static const uint8_t opts[8] = { 0, 0, 1, 4, 0, 0, 0, 0 };

		if (setsockopt(fd, IPPROTO_IPV6, IPV6_DSTOPTS, opts,
			       sizeof(opts)) < 0)
			die("IPV6_DSTOPTS");
	}
	if (connect(fd, (struct sockaddr *)&to, tolen) < 0)
		die("connect");
	for (i = 0; i < count; i++) {
		if (send(fd, buf, (size_t)size, 0) == size)
			sent++;
		if (wait_fd(fd, POLLIN, wait_ms) &&
		    recv(fd, buf, sizeof(buf), MSG_DONTWAIT) == size)
			received++;
	}
	printf("udp sent=%d received=%d\n", sent, received);
	return 0;
}

static int tcp_client(int sport, const char *dst, int port, int count,
		      int size)
{
	struct sockaddr_storage to;
	socklen_t tolen;
	int fd = client_socket(dst, SOCK_STREAM, sport, &to, &tolen, port);
	long long sent = 0, received = 0;
	uint8_t buf[65536];
	int i, one = 1;

	if (size > (int)sizeof(buf))
		size = sizeof(buf);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&to, tolen) < 0)
		die("connect");
	memset(buf, 't', (size_t)size);
	for (i = 0; i < count; i++) {
		long long got = 0;

		if (write(fd, buf, (size_t)size) != size)
			die("write");
		sent += size;
		while (got < size && wait_fd(fd, POLLIN, 3000)) {
			ssize_t r = read(fd, buf, sizeof(buf));

			if (r <= 0)
				break;
			got += r;
		}
		received += got;
		if (got != size)
			break;
	}
	shutdown(fd, SHUT_WR);
	while (wait_fd(fd, POLLIN, 3000) && read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
	printf("tcp sent=%lld received=%lld\n", sent, received);
	return 0;
}

static int dns_client(int sport, const char *server, const char *name,
		      const char *type, int tcp)
{
	struct sockaddr_storage to;
	socklen_t tolen;
	int fd = client_socket(server, tcp ? SOCK_STREAM : SOCK_DGRAM, sport,
			       &to, &tolen, 53);
	uint8_t q[600], r[4096];
	size_t qlen = 12;
	ssize_t got = 0;

	memset(q, 0, sizeof(q));
	q[0] = 0x12;
	q[1] = 0x34;
	q[2] = 0x01;	/* RD */
	put16(q + 4, 1);
	qlen += wire_name(name, q + 12);
	put16(q + qlen, strcmp(type, "AAAA") ? 1 : 28);
	put16(q + qlen + 2, 1);
	qlen += 4;
	if (connect(fd, (struct sockaddr *)&to, tolen) < 0)
		die("connect");
	if (tcp) {
		uint8_t m[602];

		put16(m, (unsigned int)qlen);
		memcpy(m + 2, q, qlen);
		if (write(fd, m, qlen + 2) != (ssize_t)(qlen + 2))
			die("write");
	} else if (send(fd, q, qlen, 0) != (ssize_t)qlen) {
		die("send");
	}
	while (wait_fd(fd, POLLIN, 3000)) {
		ssize_t n = recv(fd, r + got, sizeof(r) - (size_t)got, 0);

		if (n <= 0)
			break;
		got += n;
		if (!tcp || (got >= 2 && got >= 2 + ((r[0] << 8) | r[1])))
			break;
	}
	close(fd);
	if (tcp && got >= 2)
		memmove(r, r + 2, (size_t)(got -= 2));
	printf("dns answers=%d\n", got >= 12 ? (r[6] << 8) | r[7] : -1);
	return got >= 12 ? 0 : 1;
}

static int flood(const char *dst, int port, int nports, int seconds,
		 long long maxpkts, int size)
{
	struct sockaddr_storage to;
	socklen_t tolen = make_addr(dst, port, &to);
	int fd = socket(to.ss_family, SOCK_DGRAM, 0);
	long long start = now_ns(), end = start + seconds * 1000000000LL;
	long long sent = 0, tries = 0, elapsed;
	uint8_t buf[1500];

	if (fd < 0)
		die("socket");
	if (size > (int)sizeof(buf))
		size = sizeof(buf);
	memset(buf, 'f', sizeof(buf));
	while (tries < maxpkts) {
		int p = port + (int)(tries % nports);

		if ((tries & 63) == 0 && now_ns() >= end)
			break;
		if (to.ss_family == AF_INET)
			((struct sockaddr_in *)&to)->sin_port = htons(p);
		else
			((struct sockaddr_in6 *)&to)->sin6_port = htons(p);
		if (sendto(fd, buf, (size_t)size, MSG_DONTWAIT,
			   (struct sockaddr *)&to, tolen) == size)
			sent++;
		tries++;
	}
	elapsed = now_ns() - start;
	printf("flood sent=%lld tries=%lld ns=%lld ns_per_packet=%lld\n", sent,
	       tries, elapsed, tries ? elapsed / tries : 0);
	return 0;
}

/* ---------------------------------------------------------------- sniff */

struct sflow {
	int family, proto, sport, dport;
	char src[64], dst[64];
	unsigned long long packets, bytes, payload;
};

static int sniff(const char *if1, const char *if2, const char *ready,
		 const char *stopfile)
{
	static struct sflow flows[512];
	int nflows = 0, i, big = 4 << 20, done = 0;
	unsigned long long oversized = 0;
	unsigned int idx1 = if_nametoindex(if1), idx2 = if_nametoindex(if2);
	int fd = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_ALL));
	struct tpacket_stats st;
	socklen_t sl = sizeof(st);
	struct stat sb;

	if (fd < 0 || !idx1 || !idx2)
		die("sniff setup");
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	close(open(ready, O_CREAT | O_WRONLY, 0644));

	while (!done) {
		uint8_t buf[65536];
		struct sockaddr_ll ll;
		socklen_t ll_len = sizeof(ll);
		struct sflow f;
		ssize_t n;
		size_t iplen, hl;
		const uint8_t *l4;

		if (stat(stopfile, &sb) == 0)
			done = 1;	/* one last drain below */
		while ((n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT,
				     (struct sockaddr *)&ll, &ll_len)) >= 0 ||
		       (!done && wait_fd(fd, POLLIN, 100))) {
			if (n < 0)
				continue;
			ll_len = sizeof(ll);
			if (ll.sll_pkttype == PACKET_OUTGOING ||
			    ((unsigned int)ll.sll_ifindex != idx1 &&
			     (unsigned int)ll.sll_ifindex != idx2))
				continue;
			memset(&f, 0, sizeof(f));
			if (ntohs(ll.sll_protocol) == ETH_P_IP && n >= 20) {
				const struct ip *ip = (const struct ip *)buf;

				f.family = 2;
				f.proto = ip->ip_p;
				hl = ip->ip_hl * 4u;
				iplen = ntohs(ip->ip_len);
				inet_ntop(AF_INET, &ip->ip_src, f.src, 64);
				inet_ntop(AF_INET, &ip->ip_dst, f.dst, 64);
			} else if (ntohs(ll.sll_protocol) == ETH_P_IPV6 &&
				   n >= 40) {
				const struct ip6_hdr *ip6 =
					(const struct ip6_hdr *)buf;

				f.family = 10;
				f.proto = ip6->ip6_nxt;
				hl = 40;
				iplen = 40u + ntohs(ip6->ip6_plen);
				inet_ntop(AF_INET6, &ip6->ip6_src, f.src, 64);
				inet_ntop(AF_INET6, &ip6->ip6_dst, f.dst, 64);
			} else {
				continue;
			}
			if (iplen > 1500)
				oversized++;
			l4 = buf + hl;
			f.payload = iplen - hl;
			if ((f.proto == 6 || f.proto == 17) &&
			    (size_t)n >= hl + 20) {
				f.sport = (l4[0] << 8) | l4[1];
				f.dport = (l4[2] << 8) | l4[3];
				f.payload -= f.proto == 6 ?
					     (size_t)(l4[12] >> 4) * 4 : 8;
			}
			for (i = 0; i < nflows; i++)
				if (flows[i].family == f.family &&
				    flows[i].proto == f.proto &&
				    flows[i].sport == f.sport &&
				    flows[i].dport == f.dport &&
				    !strcmp(flows[i].src, f.src) &&
				    !strcmp(flows[i].dst, f.dst))
					break;
			if (i == nflows) {
				if (nflows == 512)
					continue;
				flows[nflows++] = f;
				flows[i].packets = 0;
				flows[i].bytes = 0;
				flows[i].payload = 0;
			}
			flows[i].packets++;
			flows[i].bytes += iplen;
			flows[i].payload += f.payload;
		}
	}
	for (i = 0; i < nflows; i++)
		printf("SNIFF %d %d %s %s %d %d %llu %llu %llu\n",
		       flows[i].family, flows[i].proto, flows[i].src,
		       flows[i].dst, flows[i].sport, flows[i].dport,
		       flows[i].packets, flows[i].bytes, flows[i].payload);
	memset(&st, 0, sizeof(st));
	getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &sl);
	printf("SNIFF_STATS drops=%u oversized=%llu\n", st.tp_drops, oversized);
	return 0;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(cmd, "serve") && argc == 3)
		return serve(atoi(argv[2]));
	if ((!strcmp(cmd, "udp") || !strcmp(cmd, "udp6x")) &&
	    (argc == 7 || argc == 8))
		return udp_client(atoi(argv[2]), argv[3], atoi(argv[4]),
				  atoi(argv[5]), atoi(argv[6]),
				  argc == 8 ? atoi(argv[7]) : 2000,
				  !strcmp(cmd, "udp6x"));
	if (!strcmp(cmd, "tcp") && argc == 7)
		return tcp_client(atoi(argv[2]), argv[3], atoi(argv[4]),
				  atoi(argv[5]), atoi(argv[6]));
	if (!strcmp(cmd, "dns") && (argc == 6 || argc == 7))
		return dns_client(atoi(argv[2]), argv[3], argv[4], argv[5],
				  argc == 7 && !strcmp(argv[6], "tcp"));
	if (!strcmp(cmd, "dnsbad") && argc == 4)
		return dns_bad(argv[2], atoi(argv[3]));
	if (!strcmp(cmd, "flood") && argc == 8)
		return flood(argv[2], atoi(argv[3]), atoi(argv[4]),
			     atoi(argv[5]), atoll(argv[6]), atoi(argv[7]));
	if (!strcmp(cmd, "sniff") && argc == 6)
		return sniff(argv[2], argv[3], argv[4], argv[5]);
	if (!strcmp(cmd, "nobody") && argc >= 3) {
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 ||
		    setuid(65534) < 0)
			die("drop privileges");
		execv(argv[2], argv + 2);
		die("execv");
	}
	fprintf(stderr,
		"usage: %s serve|udp|tcp|dns|flood|sniff|nobody ... (see the source)\n",
		argv[0]);
	return 2;
}
