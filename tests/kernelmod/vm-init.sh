#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# /init of the spin.ko test VM (busybox sh; packed by run-vm-test.sh).
#
# The VM's own namespace is the router; ns1 (client, 10.1.0.2,
# 2001:db8:1::2) and ns2 (server, 10.2.0.2, 2001:db8:2::2) hang off it by
# veth pairs r1 and r2, so everything between them is forwarded once.
# Prints one "ok - ..." or "not ok - ..." line per check, then
# "SPIN-KMOD-TEST: PASS" or "SPIN-KMOD-TEST: FAIL" and powers off.

/bin/busybox mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs tmp /tmp
cd /tmp || exit 1

FAILS=0
ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; FAILS=$((FAILS + 1)); }
check() {
	_d=$1
	shift
	if "$@"; then ok "$_d"; else nok "$_d"; fi
}
# wait_for SECONDS CMD...: runs CMD every 0.1 s until it succeeds; fails
# when the deadline passes.
wait_for() {
	_end=$(($(date +%s) + $1))
	shift
	while ! "$@"; do
		[ "$(date +%s)" -ge "$_end" ] && return 1
		usleep 100000
	done
	return 0
}
finish() {
	echo "# dmesg (spin):"
	dmesg | grep -i spin | sed 's/^/#   /'
	if [ "$FAILS" -eq 0 ]; then
		echo "SPIN-KMOD-TEST: PASS"
	else
		echo "SPIN-KMOD-TEST: FAIL ($FAILS failed)"
	fi
	sync
	poweroff -f
	sleep 10
}
stat_of() { awk -v k="$1" '$1 == k { print $2 }' /proc/net/spin; }
in1() { nsenter -t "$NS1" -n "$@"; }
in2() { nsenter -t "$NS2" -n "$@"; }
cfg() { spin_kt_config "$@" 2>&1; }
same() { [ "$1" = "$2" ] || { echo "#   got: $(echo "$1" | tr '\n' '|') want: $(echo "$2" | tr '\n' '|')"; return 1; }; }
# has FILE LINE: FILE has exactly LINE.
has() { grep -qxF "$2" "$1"; }
# flow_is TAG "FAMILY PROTO SRC DST SPORT DPORT" "PACKETS BYTES": the records
# of that flow in the main listener's output sum to that (a flow may span
# several intervals, so several records).
flow_sum() {
	awk -v t="$1" -v k="$2" '$1 == t && ($2 " " $3 " " $4 " " $5 " " $6 " " $7) == k {
		p += $8; b += $9 } END { print p + 0, b + 0 }' /tmp/l1.txt
}
flow_is() { [ "$(flow_sum "$1" "$2")" = "$3" ]; }

echo "# spin.ko VM test on Linux $(uname -r)"

# ---------------------------------------------------------------- network
for m in $(cat /lib/kmod/load.list); do
	insmod "/lib/kmod/$m" || nok "insmod $m"
done
echo 1 >/proc/sys/net/ipv4/ip_forward
echo 1 >/proc/sys/net/ipv6/conf/all/forwarding
echo 0 >/proc/sys/net/ipv6/conf/default/accept_dad
unshare -n sleep 100000 &
NS1=$!
unshare -n sleep 100000 &
NS2=$!
netns_ready() { [ "$(readlink "/proc/$1/ns/net")" != "$(readlink /proc/self/ns/net)" ]; }
wait_for 10 netns_ready "$NS1" && wait_for 10 netns_ready "$NS2" ||
	nok "namespaces created"
ip link add r1 type veth	# peer: veth0
ip link add r2 type veth	# peer: veth1
for n in 1 2; do
	eval pid=\$NS$n
	nsenter -t "$pid" -n sh -c 'echo 0 >/proc/sys/net/ipv6/conf/default/accept_dad'
	ip link set "veth$((n - 1))" netns "$pid"
	nsenter -t "$pid" -n ip link set "veth$((n - 1))" name eth0
	nsenter -t "$pid" -n ip link set lo up
	nsenter -t "$pid" -n ip link set eth0 up
	nsenter -t "$pid" -n ip addr add "10.$n.0.2/24" dev eth0
	nsenter -t "$pid" -n ip -6 addr add "2001:db8:$n::2/64" dev eth0
	nsenter -t "$pid" -n ip route add default via "10.$n.0.1"
	nsenter -t "$pid" -n ip -6 route add default via "2001:db8:$n::1"
	ip addr add "10.$n.0.1/24" dev "r$n"
	ip -6 addr add "2001:db8:$n::1/64" dev "r$n"
	ip link set "r$n" up
done
in2 spin_kt_traffic serve 7000 >/tmp/serve.log 2>&1 &
SERVER=$!
wait_for 10 grep -q serving /tmp/serve.log || nok "server started"
check "IPv4 forwarding ns1 -> ns2" wait_for 20 in1 ping -c 1 -W 1 10.2.0.2 >/dev/null
check "IPv6 forwarding ns1 -> ns2" wait_for 20 in1 ping6 -c 1 -W 1 2001:db8:2::2 >/dev/null

# ---------------------------------------------------------------- cost
# Only with spin_cost=N on the kernel command line (SPIN_KMOD_COST=N on the
# host): N rounds of UDP floods from ns1 through the router to ns2, 1 flow
# (to the server's sink port) and 1000 flows (to closed ports), without the
# module and then with it loaded and a listener reading. The figure is the
# sender's ns per packet; on one emulated CPU it covers the sender, the
# forwarding (with the hook) and the receiver. TCG: relative numbers only.
COST_RUNS=$(sed -n 's/.*spin_cost=\([0-9]*\).*/\1/p' /proc/cmdline)
flood_ns() { in1 spin_kt_traffic flood 10.2.0.2 "$1" "$2" 60 20000 64 | sed -n 's/.*ns_per_packet=//p'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
if [ -n "$COST_RUNS" ]; then
	: >/tmp/cost.txt
	for i in $(seq "$COST_RUNS"); do
		a=$(flood_ns 7001 1)
		b=$(flood_ns 20000 1000)
		insmod /lib/kmod/spin.ko
		spin_kt_listen -t 600 >/dev/null 2>&1 &
		LC=$!
		wait_for 10 has /proc/net/spin "listeners 1" || nok "cost listener registered"
		c=$(flood_ns 7001 1)
		d=$(flood_ns 20000 1000)
		kill $LC
		wait $LC
		rmmod spin || nok "rmmod after cost run"
		echo "$a $b $c $d" >>/tmp/cost.txt
		echo "# COST run $i: ns/packet 1 flow $a -> $c, 1000 flows $b -> $d (without -> with spin.ko)"
	done
	echo "# COST median of $COST_RUNS runs: 1 flow $(cut -d' ' -f1 /tmp/cost.txt | median) -> $(cut -d' ' -f3 /tmp/cost.txt | median) ns/packet, 1000 flows $(cut -d' ' -f2 /tmp/cost.txt | median) -> $(cut -d' ' -f4 /tmp/cost.txt | median) ns/packet"
fi

# ---------------------------------------------------------------- load
check "insmod spin.ko" insmod /lib/kmod/spin.ko
check "/proc/net/spin shows mode forward" has /proc/net/spin "mode forward"
check "/proc/net/spin in a namespace" in1 grep -qx "mode forward" /proc/net/spin
# Counts made for a listener that has gone are not sent to the next one.
spin_kt_listen -t 120 >/tmp/l0.txt 2>/dev/null &
L0=$!
wait_for 10 has /proc/net/spin "listeners 1" || nok "first listener registered"
in1 spin_kt_traffic flood 10.2.0.2 7001 1 5 500 64 >/dev/null
kill $L0
wait $L0
check "a closed listener is removed" wait_for 10 has /proc/net/spin "listeners 0"

# ---------------------------------------------------------------- sums
spin_kt_listen -t 600 >/tmp/l1.txt 2>/tmp/l1.err &
L1=$!
check "listener registers" wait_for 10 has /proc/net/spin "listeners 1"
spin_kt_traffic sniff r1 r2 /tmp/sniff.ready /tmp/sniff.stop >/tmp/sniff.txt &
SNIFF=$!
wait_for 10 test -e /tmp/sniff.ready || nok "sniffer started"

check "udp v4 echoed" same "$(in1 spin_kt_traffic udp 40001 10.2.0.2 7000 20 100)" "udp sent=20 received=20"
check "udp v6 echoed" same "$(in1 spin_kt_traffic udp 40002 2001:db8:2::2 7000 20 200)" "udp sent=20 received=20"
check "tcp v4 echoed" same "$(in1 spin_kt_traffic tcp 40003 10.2.0.2 7000 10 500)" "tcp sent=5000 received=5000"
check "tcp v6 echoed" same "$(in1 spin_kt_traffic tcp 40004 2001:db8:2::2 7000 10 700)" "tcp sent=7000 received=7000"
check "icmp v4" in1 ping -A -c 3 -W 5 10.2.0.2 >/dev/null
check "icmp v6" in1 ping6 -A -c 3 -W 5 2001:db8:2::2 >/dev/null
# A last round trip: everything before it has been forwarded.
in1 ping -c 1 -W 5 10.2.0.2 >/dev/null
touch /tmp/sniff.stop
wait $SNIFF

# Module records and sniffer counts of the flows between ns1 and ns2, summed
# per flow: "family proto src dst sport dport packets bytes".
flows_of() {
	awk -v tag="$1" '
		$1 == tag && (($4 ~ /^10\.1\./ && $5 ~ /^10\.2\./) ||
			      ($4 ~ /^10\.2\./ && $5 ~ /^10\.1\./) ||
			      ($4 ~ /^2001:db8:1::/ && $5 ~ /^2001:db8:2::/) ||
			      ($4 ~ /^2001:db8:2::/ && $5 ~ /^2001:db8:1::/)) {
			k = $2 " " $3 " " $4 " " $5 " " $6 " " $7
			p[k] += $8; b[k] += $9
		}
		END { for (k in p) print k, p[k], b[k] }' "$2" | sort
}
sums_match() {
	flows_of TRAFFIC /tmp/l1.txt >/tmp/mod.sum
	flows_of SNIFF /tmp/sniff.txt >/tmp/sniff.sum
	cmp -s /tmp/mod.sum /tmp/sniff.sum
}
if wait_for 10 sums_match; then
	ok "records sum exactly to the forwarded packets and bytes ($(wc -l </tmp/sniff.sum) flows)"
else
	nok "records sum exactly to the forwarded packets and bytes"
	echo "# module:"; sed 's/^/#   /' /tmp/mod.sum
	echo "# sniffer:"; sed 's/^/#   /' /tmp/sniff.sum
fi
sed 's/^/#   /' /tmp/mod.sum
check "sniffer lost nothing, saw no GSO" has /tmp/sniff.txt "SNIFF_STATS drops=0 oversized=0"
check "udp v4 40001 -> 7000: 20 packets, 2560 bytes" has /tmp/mod.sum "2 17 10.1.0.2 10.2.0.2 40001 7000 20 2560"
check "udp v4 7000 -> 40001: 20 packets, 2560 bytes" has /tmp/mod.sum "2 17 10.2.0.2 10.1.0.2 7000 40001 20 2560"
check "udp v6 40002 -> 7000: 20 packets, 4960 bytes" has /tmp/mod.sum "10 17 2001:db8:1::2 2001:db8:2::2 40002 7000 20 4960"
check "udp v6 7000 -> 40002: 20 packets, 4960 bytes" has /tmp/mod.sum "10 17 2001:db8:2::2 2001:db8:1::2 7000 40002 20 4960"
check "icmp v4: 4 echo requests of 84 bytes" has /tmp/mod.sum "2 1 10.1.0.2 10.2.0.2 0 0 4 336"
check "icmp v4: 4 echo replies of 84 bytes" has /tmp/mod.sum "2 1 10.2.0.2 10.1.0.2 0 0 4 336"
check "icmp v6: 3 echo requests of 104 bytes" has /tmp/mod.sum "10 58 2001:db8:1::2 2001:db8:2::2 0 0 3 312"
check "icmp v6: 3 echo replies of 104 bytes" has /tmp/mod.sum "10 58 2001:db8:2::2 2001:db8:1::2 0 0 3 312"
tcp_payload() { awk -v s="$1" -v d="$2" '$1 == "SNIFF" && $6 == s && $7 == d { t += $10 } END { print t + 0 }' /tmp/sniff.txt; }
check "tcp v4 payload 5000 bytes each way" same "$(tcp_payload 40003 7000) $(tcp_payload 7000 40003)" "5000 5000"
check "tcp v6 payload 7000 bytes each way" same "$(tcp_payload 40004 7000) $(tcp_payload 7000 40004)" "7000 7000"
check "tcp v4 flow counted" grep -q "^2 6 10.1.0.2 10.2.0.2 40003 7000 " /tmp/mod.sum
check "tcp v6 flow counted" grep -q "^10 6 2001:db8:1::2 2001:db8:2::2 40004 7000 " /tmp/mod.sum
check "payload offset: udp v4 28, udp v6 48" sh -c 'grep -q "^TRAFFIC 2 17 10.1.0.2 10.2.0.2 40001 7000 .* 28$" /tmp/l1.txt && grep -q "^TRAFFIC 10 17 2001:db8:1::2 2001:db8:2::2 40002 7000 .* 48$" /tmp/l1.txt'

check "udp v6 with an extension header echoed" same "$(in1 spin_kt_traffic udp6x 40005 2001:db8:2::2 7000 3 100)" "udp sent=3 received=3"
check "extension header skipped: udp ports, 3 x 156 bytes" wait_for 10 flow_is TRAFFIC "10 17 2001:db8:1::2 2001:db8:2::2 40005 7000" "3 468"
check "payload offset after the extension header: 56" grep -q "^TRAFFIC 10 17 2001:db8:1::2 2001:db8:2::2 40005 7000 .* 56$" /tmp/l1.txt

# ---------------------------------------------------------------- DNS
check "dns udp v4 answered" same "$(in1 spin_kt_traffic dns 40020 10.2.0.2 www.example.com A)" "dns answers=2"
check "dns udp v6 answered" same "$(in1 spin_kt_traffic dns 40021 2001:db8:2::2 www.Example.COM AAAA)" "dns answers=1"
check "dns tcp v4 answered" same "$(in1 spin_kt_traffic dns 40022 10.2.0.2 cname.example.net A tcp)" "dns answers=2"
check "dns tcp v6 answered" same "$(in1 spin_kt_traffic dns 40023 2001:db8:2::2 cname.example.net AAAA tcp)" "dns answers=2"
for line in \
	"DNS_QUERY 2 10.1.0.2 0 www.example.com" \
	"DNS_ANSWER 2 192.0.2.1 300 www.example.com" \
	"DNS_ANSWER 2 192.0.2.2 301 www.example.com" \
	"DNS_QUERY 10 2001:db8:1::2 0 www.example.com" \
	"DNS_ANSWER 10 2001:db8::1 600 www.example.com" \
	"DNS_QUERY 2 10.1.0.2 0 cname.example.net" \
	"DNS_ANSWER 2 198.51.100.7 50 target.example.org" \
	"DNS_ANSWER 2 198.51.100.7 50 cname.example.net" \
	"DNS_QUERY 10 2001:db8:1::2 0 cname.example.net" \
	"DNS_ANSWER 10 2001:db8:99::7 50 target.example.org" \
	"DNS_ANSWER 10 2001:db8:99::7 50 cname.example.net"; do
	check "reported: $line" wait_for 10 has /tmp/l1.txt "$line"
done
check "no DNS parse errors" same "$(stat_of dns_errors)" 0
check "malformed and tricky DNS responses sent" same "$(in1 spin_kt_traffic dnsbad 10.2.0.2 7001)" "dnsbad sent=11"
check "valid answer after the malformed ones" wait_for 10 has /tmp/l1.txt "DNS_ANSWER 2 203.0.113.9 77 ok.example"
check "TTL with the top bit set read as 0" has /tmp/l1.txt "DNS_ANSWER 2 203.0.113.11 0 neg.example"
check "CNAME loop: only the address's owner reported" sh -c 'grep -qx "DNS_ANSWER 2 203.0.113.10 60 c.example" /tmp/l1.txt && ! grep -q " [ab]\.example$" /tmp/l1.txt'
check "8 malformed messages rejected whole" same "$(stat_of dns_errors)" 8
check "nothing reported from the malformed ones" sh -c '! grep -q "^DNS_ANSWER 2 1.2.3.4 \|^DNS_ANSWER 2 192.0.0.0 \|x\{63\}\|^BAD_" /tmp/l1.txt'

# ---------------------------------------------------------------- verdicts
check "ADD_BLOCK 10.2.0.2 -> END" same "$(cfg add-block 10.2.0.2)" "END"
check "blocked udp gets no echo" same "$(in1 spin_kt_traffic udp 40030 10.2.0.2 7000 5 100 300)" "udp sent=5 received=0"
check "BLOCKED records: 5 packets, 640 bytes" wait_for 10 flow_is BLOCKED "2 17 10.1.0.2 10.2.0.2 40030 7000" "5 640"
check "BLOCKED record's payload offset 28" grep -q "^BLOCKED 2 17 10.1.0.2 10.2.0.2 40030 7000 .* 28$" /tmp/l1.txt
check "the node's IPv6 address still passes" same "$(in1 spin_kt_traffic udp 40031 2001:db8:2::2 7000 2 100)" "udp sent=2 received=2"
check "GET_BLOCK lists it, then END" same "$(cfg get-block)" "IP 10.2.0.2
END"
check "ADD_EXCEPT 10.1.0.2 -> END" same "$(cfg add-except 10.1.0.2)" "END"
check "excepted udp passes the block" same "$(in1 spin_kt_traffic udp 40032 10.2.0.2 7000 5 100)" "udp sent=5 received=5"
check "excepted traffic is TRAFFIC" wait_for 10 flow_is TRAFFIC "2 17 10.1.0.2 10.2.0.2 40032 7000" "5 640"
check "CLEAR_EXCEPT -> END" same "$(cfg clear-except)" "END"
check "GET_EXCEPT after clear: END only" same "$(cfg get-except)" "END"
check "REMOVE_BLOCK -> END" same "$(cfg remove-block 10.2.0.2)" "END"
check "GET_BLOCK after remove: END only" same "$(cfg get-block)" "END"

ign0=$(stat_of ignored)
check "ADD_IGNORE 10.1.0.2 -> END" same "$(cfg add-ignore 10.1.0.2)" "END"
check "ignored udp passes" same "$(in1 spin_kt_traffic udp 40040 10.2.0.2 7000 5 100)" "udp sent=5 received=5"
cfg add-block 10.2.0.2 >/dev/null
check "ignored and blocked: still dropped" same "$(in1 spin_kt_traffic udp 40041 10.2.0.2 7000 3 100 300)" "udp sent=3 received=0"
cfg remove-block 10.2.0.2 >/dev/null
check "not ignored (IPv6) is reported" same "$(in1 spin_kt_traffic udp 40042 2001:db8:2::2 7000 1 100)" "udp sent=1 received=1"
check "marker record arrives" wait_for 10 flow_is TRAFFIC "10 17 2001:db8:1::2 2001:db8:2::2 40042 7000" "1 148"
check "ignored flows hidden (no TRAFFIC or BLOCKED)" sh -c '! awk "\$6 == 40040 || \$7 == 40040 || \$6 == 40041 || \$7 == 40041" /tmp/l1.txt | grep -q .'
check "ignored packets counted in /proc" test "$(stat_of ignored)" -eq "$((ign0 + 13))"
check "ADD_IGNORE 2001:db8:2::2 -> END" same "$(cfg add-ignore 2001:db8:2::2)" "END"
check "GET_IGNORE lists both, then END" same "$(cfg get-ignore)" "IP 10.1.0.2
IP 2001:db8:2::2
END"
check "CLEAR_IGNORE -> END" same "$(cfg clear-ignore)" "END"
check "GET_IGNORE after clear: END only" same "$(cfg get-ignore)" "END"
check "unknown command: ERR then END" same "$(cfg 99)" "ERR unknown command 99
END"
check "bad version: ERR then END" same "$(cfg -V 2 get-block)" "ERR unsupported protocol version 2 (this module speaks 1)
END"

# ---------------------------------------------------------------- privilege
den0=$(stat_of register_denied)
out=$(spin_kt_traffic nobody /bin/spin_kt_listen -t 10)
check "unprivileged register refused with EPERM" same "$out" "REGISTER_ERROR 1"
check "refusal counted, listeners unchanged" sh -c "[ $(stat_of register_denied) -eq $((den0 + 1)) ] && grep -qx 'listeners 1' /proc/net/spin"
check "unprivileged ADD_BLOCK: ERR then END" same "$(spin_kt_traffic nobody /bin/spin_kt_config add-block 10.9.9.9)" "ERR permission denied: CAP_NET_ADMIN is required
END"
check "unprivileged ADD_BLOCK changed nothing" same "$(cfg get-block)" "END"

# ---------------------------------------------------------------- flood
spin_kt_listen -r 4096 -z 8000 -t 14 >/tmp/l2.txt 2>/tmp/l2.err &
L2=$!
check "slow listener registers" wait_for 10 has /proc/net/spin "listeners 2"
drop0=$(stat_of datagrams_dropped)
echo "# $(in1 spin_kt_traffic flood 10.2.0.2 20000 4000 3 300000 64)"
check "VM responsive after the flood" in1 ping -c 1 -W 5 10.2.0.2 >/dev/null
grep -v '^listener ' /proc/net/spin | tr '\n' ' ' | sed 's/^/# /'
echo
grep '^listener ' /proc/net/spin | sed 's/^/# /'
check "drop counter shows the loss" test "$(stat_of datagrams_dropped)" -gt "$drop0"
check "the slow listener's own drop count" sh -c "grep '^listener portid=$L2 ' /proc/net/spin | grep -qv ' dropped=0 '"
check "the reading listener lost nothing" grep -q "^listener portid=$L1 .* dropped=0 " /proc/net/spin
wait $L2
echo "# slow listener: $(cat /tmp/l2.err)"

# ---------------------------------------------------------------- spind
# spind with --source kmod against a broker in the VM: what it publishes is
# printed between markers and checked on the host (check_spind_reports.py):
# per-second traffic sums equal what was sent; blocking the server's node
# through spind (JSON-RPC over MQTT) drops its traffic in the module.
if [ -x /bin/spind ]; then
	mkdir -p /tmp/spind-state
	ip link set lo up	# the broker and spind meet on 127.0.0.1
	printf 'listener 1883 127.0.0.1\nallow_anonymous true\nuser root\npersistence false\n' >/tmp/mq.conf
	mosquitto -c /tmp/mq.conf >/tmp/mq.log 2>&1 &
	MQ=$!
	mq_up() { mosquitto_pub -h 127.0.0.1 -t probe -m x 2>/dev/null; }
	check "mosquitto runs in the VM" wait_for 20 mq_up
	mosquitto_sub -h 127.0.0.1 -t 'SPIN/traffic' -t 'SPIN/traffic/node/+' -t 'SPIN/jsonrpc/a' >/tmp/mq1.txt 2>&1 &
	SUB=$!
	spind --source kmod --mqtt_port 1883 --state_dir /tmp/spind-state --http_port 0 \
		--control_socket "" --shards 1 --stat_interval 1 \
		--lan_prefixes "10.1.0.0/24 2001:db8:1::/64" \
		--dhcp_config_file "" --dhcp_lease_files "" >/tmp/spind.log 2>&1 &
	SPIND=$!
	check "spind starts with --source kmod" wait_for 30 grep -q "spind started" /tmp/spind.log
	check "spind registered with the module" grep -q "registered with spin.ko" /tmp/spind.log
	serving() { grep -q '"command":"serverRestart"' /tmp/mq1.txt; }
	check "spind publishes" wait_for 30 serving
	[ -x /bin/spinctl ] && spinctl kmod print 6 >/tmp/print.txt 2>/tmp/print.err &
	check "udp v4 through spind's module" same "$(in1 spin_kt_traffic udp 41001 10.2.0.2 7000 30 100)" "udp sent=30 received=30"
	check "udp v6 through spind's module" same "$(in1 spin_kt_traffic udp 41002 2001:db8:2::2 7000 20 300)" "udp sent=20 received=20"
	reported() { grep -q '"2001:db8:2::2"' /tmp/mq1.txt && grep -q '"10.2.0.2"' /tmp/mq1.txt; }
	check "spind reports the flows" wait_for 20 reported
	# The module flushes every second and spind reports every second: two
	# more seconds bring whatever of the flows came late.
	sleep 3
	node=$(sed -n 's/.*"command":"nodeInfo".*"id":\([0-9]*\),.*"ips":\["10\.2\.0\.2".*/\1/p' /tmp/mq1.txt | tail -1)
	[ -n "$node" ] || node=$(sed -n 's/.*"result":{"id":\([0-9]*\),[^}]*"10\.2\.0\.2".*/\1/p' /tmp/mq1.txt | grep -v '^$' | tail -1)
	echo "# the server's node: ${node:-not found}"
	mosquitto_pub -h 127.0.0.1 -t SPIN/jsonrpc/q -m "{\"jsonrpc\":\"2.0\",\"id\":71,\"method\":\"add_iplist_node\",\"params\":{\"list\":\"block\",\"node\":${node:-0}}}"
	blocked_in_module() { cfg get-block | grep -qx "IP 10.2.0.2"; }
	check "blocking the node through spind fills the module's block list" wait_for 15 blocked_in_module
	echo "# module block list: $(cfg get-block | tr '\n' ' ')"
	if [ -x /bin/spinctl ]; then
		check "spinctl kmod show block" same "$(spinctl kmod show block)" "10.2.0.2"
		printed() { grep -q "^TRAFFIC ipv4 17 10.1.0.2 41001 -> 10.2.0.2 7000 packets=" /tmp/print.txt; }
		check "spinctl kmod print shows the records" wait_for 10 printed
		check "spinctl kmod add/show/remove" sh -c 'spinctl kmod add ignore 192.0.2.99 && [ "$(spinctl kmod show ignore)" = 192.0.2.99 ] && spinctl kmod remove ignore 192.0.2.99 && [ -z "$(spinctl kmod show ignore)" ]'
	fi
	check "the module drops the blocked node's traffic" same "$(in1 spin_kt_traffic udp 41003 10.2.0.2 7000 5 100)" "udp sent=5 received=0"
	blocked_msg() { grep -q '"command":"blocked"' /tmp/mq1.txt; }
	check "spind publishes blocked" wait_for 15 blocked_msg
	mosquitto_pub -h 127.0.0.1 -t SPIN/jsonrpc/q -m "{\"jsonrpc\":\"2.0\",\"id\":72,\"method\":\"remove_iplist_node\",\"params\":{\"list\":\"block\",\"node\":${node:-0}}}"
	unblocked() { ! cfg get-block | grep -q "^IP "; }
	check "unblocking empties the module's block list" wait_for 15 unblocked
	check "traffic flows again" same "$(in1 spin_kt_traffic udp 41004 10.2.0.2 7000 5 100)" "udp sent=5 received=5"
	mosquitto_pub -h 127.0.0.1 -t SPIN/jsonrpc/q -m '{"jsonrpc":"2.0","id":73,"method":"add_iplist_ip","params":{"list":"block","ip":"10.2.0.2"}}'
	check "a blocked address is in the module" wait_for 15 blocked_in_module
	answered() { grep -q '"id":73' /tmp/mq1.txt; }
	check "spind answered the last request" wait_for 10 answered
	kill -TERM $SPIND
	wait $SPIND
	check "spind exits cleanly" same "$?" 0
	check "spind's stop clears the module's lists" same "$(cfg get-block)" "END"
	kill $SUB $MQ
	wait $SUB $MQ 2>/dev/null
	echo "SPIND-MQTT-BEGIN"
	cat /tmp/mq1.txt
	echo "SPIND-MQTT-END"
	grep -E "error|warn|kmod|firewall" /tmp/spind.log | sed 's/^/# spind: /'
else
	echo "# spind is not in the initramfs: its checks are skipped"
fi

# ---------------------------------------------------------------- unload
kill $L1 $SERVER
wait $L1
echo "# main listener: $(cat /tmp/l1.err)"
check "records were packed many to a datagram" awk '/^# records=/ { split($2, r, "="); split($3, d, "="); exit !(r[2] > 2 * d[2]) }' /tmp/l1.err
kill $NS1 $NS2
wait $NS1 $NS2 2>/dev/null
check "rmmod spin" rmmod spin
check "module gone" sh -c '! grep -q "^spin " /proc/modules && ! test -e /proc/net/spin'
check "insmod spin.ko mode=both" insmod /lib/kmod/spin.ko mode=both
check "mode both shown" has /proc/net/spin "mode both"
check "rmmod again" rmmod spin
check "bad mode refused" sh -c '! insmod /lib/kmod/spin.ko mode=bogus 2>/dev/null'
if dmesg | grep -E 'WARNING:|BUG:|Oops|Call Trace|general protection|UBSAN|KASAN|list_(add|del) corruption|INFO: task' >/tmp/bad.txt; then
	nok "kernel log clean"
	sed 's/^/#   /' /tmp/bad.txt
else
	ok "kernel log clean (no WARNING, BUG or trace)"
fi
finish
