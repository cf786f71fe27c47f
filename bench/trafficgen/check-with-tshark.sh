#!/usr/bin/env bash
# Validates spin-trafficgen output against tshark (Wireshark's dissectors):
#   - captures read cleanly: no malformed packets, no expert errors, every
#     IPv4/TCP/UDP/ICMP/ICMPv6/IGMP checksum good
#   - per-second packet/byte totals, per-second flows and DNS answers that
#     tshark computes equal the generator's ground truth files exactly
#   - determinism, --packets 10, --vlan, --cdn-overlap, --dns-share (share of
#     response frames, every connection to an address answered before),
#     snaplen handling, argument errors, and the time / memory budget of
#     10 million packets and of the 8-million-packet --dns-share 0.2 run
#
# usage: bench/trafficgen/check-with-tshark.sh [path/to/spin-trafficgen]
# env:   WORKDIR=dir    scratch directory (default: mktemp -d, removed on success)
#        BIG=0          skip the 10-million-packet run (and the 8-million-packet
#                       --dns-share 0.2 run)
#        BIG_TSHARK=1   also compare the 10M run's seconds.csv with tshark (slow)
#        BIG_LIMIT=15   wall-clock limit in seconds for the 10M run
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
gen=${1:-${GEN:-}}
if [[ -z $gen ]]; then
  for c in "$here/../../build/bench/trafficgen/spin-trafficgen" ./bench/trafficgen/spin-trafficgen \
           ./spin-trafficgen "$(command -v spin-trafficgen || true)"; do
    if [[ -n $c && -x $c ]]; then gen=$c; break; fi
  done
fi
[[ -n $gen && -x $gen ]] || { echo "usage: $0 path/to/spin-trafficgen" >&2; exit 2; }
gen=$(cd "$(dirname "$gen")" && pwd)/$(basename "$gen")
command -v tshark >/dev/null || { echo "tshark not found (apt-get install -y tshark)" >&2; exit 2; }

work=${WORKDIR:-$(mktemp -d /tmp/trafficgen-check.XXXXXX)}
mkdir -p "$work"
cd "$work"

TS=(tshark -n -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE -o ip.check_checksum:TRUE)
BAD='tcp.checksum.status == "Bad" || udp.checksum.status == "Bad" || ip.checksum.status == "Bad"
     || icmp.checksum.status == "Bad" || icmpv6.checksum.status == "Bad" || igmp.checksum.status == "Bad"
     || _ws.malformed || _ws.expert.severity == "Error"'

failures=0
ok()   { printf 'ok    %s\n' "$*"; }
bad()  { printf 'FAIL  %s\n' "$*"; failures=$((failures + 1)); }
info() { printf '      %s\n' "$*"; }
ts()   { "${TS[@]}" "$@" 2>/dev/null; }

# ---------------------------------------------------------------- helpers

frames() { ts -r "$1" -T fields -e frame.number | wc -l; }

# every frame dissects cleanly, checksums good; $2 = expected frame count
check_clean() {
  local f=$1 want=$2 n nbad
  n=$(frames "$f")
  nbad=$(ts -r "$f" -Y "$BAD" | wc -l)
  if [[ $n -eq $want && $nbad -eq 0 ]]; then
    ok "$f: $n frames, 0 malformed / expert errors / bad checksums"
  else
    bad "$f: $n frames (want $want), $nbad malformed / expert errors / bad checksums"
    ts -r "$f" -Y "$BAD" | head -5
  fi
}

# second,packets,bytes computed by tshark
tshark_seconds() {
  ts -r "$1" -T fields -E occurrence=f -e frame.time_epoch -e ip.len -e ipv6.plen |
    awk -F'\t' '{ split($1, t, "."); s = t[1]
                  if ($2 != "") b = $2; else if ($3 != "") b = $3 + 40; else next
                  p[s]++; by[s] += b }
                END { for (s in p) printf "%s,%.0f,%.0f\n", s, p[s], by[s] }' |
    sort -t, -k1,1n
}

check_seconds() {
  local f=$1 prefix=$2
  tshark_seconds "$f" >"$prefix.seconds.tshark"
  if diff -q <(tail -n +2 "$prefix.seconds.csv") "$prefix.seconds.tshark" >/dev/null; then
    ok "$prefix.seconds.csv equals tshark ($(wc -l <"$prefix.seconds.tshark") seconds," \
       "$(awk -F, '{p+=$2; b+=$3} END {printf "%.0f packets, %.0f bytes", p, b}' "$prefix.seconds.tshark"))"
  else
    bad "$prefix.seconds.csv differs from tshark"
    diff <(tail -n +2 "$prefix.seconds.csv") "$prefix.seconds.tshark" | head -5
  fi
}

# second,family,proto,src,dst,sport,dport,packets,bytes computed by tshark
tshark_flows() {
  ts -r "$1" -T fields -E occurrence=f -e frame.time_epoch \
      -e ip.src -e ip.dst -e ip.proto -e ip.len -e ipv6.src -e ipv6.dst -e ipv6.nxt -e ipv6.plen \
      -e tcp.srcport -e tcp.dstport -e udp.srcport -e udp.dstport \
      -e icmp.type -e icmp.code -e icmpv6.type -e icmpv6.code |
    awk -F'\t' '{ split($1, t, "."); s = t[1]
                  if ($5 != "") { fam = 4; src = $2; dst = $3; proto = $4; by = $5 }
                  else if ($9 != "") { fam = 6; src = $6; dst = $7; proto = $8; by = $9 + 40 }
                  else next
                  sp = 0; dp = 0
                  if (proto == 6) { sp = $10; dp = $11 }
                  else if (proto == 17) { sp = $12; dp = $13 }
                  else if (proto == 1) { dp = $14 * 256 + $15 }
                  else if (proto == 58) { dp = $16 * 256 + $17 }
                  k = s "," fam "," proto "," src "," dst "," sp "," dp
                  p[k]++; b[k] += by }
                END { for (k in p) printf "%s,%.0f,%.0f\n", k, p[k], b[k] }' |
    LC_ALL=C sort
}

check_flows() {
  local f=$1 prefix=$2
  tshark_flows "$f" >"$prefix.flows.tshark"
  if diff -q <(tail -n +2 "$prefix.flows.csv" | LC_ALL=C sort) "$prefix.flows.tshark" >/dev/null; then
    ok "$prefix.flows.csv equals tshark ($(wc -l <"$prefix.flows.tshark") flow-seconds)"
  else
    bad "$prefix.flows.csv differs from tshark"
    diff <(tail -n +2 "$prefix.flows.csv" | LC_ALL=C sort) "$prefix.flows.tshark" | head -5
  fi
  # flows.csv must be sorted by second
  if tail -n +2 "$prefix.flows.csv" | cut -d, -f1 | sort -c -n 2>/dev/null; then
    ok "$prefix.flows.csv is ordered by second"
  else
    bad "$prefix.flows.csv is not ordered by second"
  fi
}

# name,type,value,ttl of every answer record of the resolver's responses
tshark_dns() {
  ts -r "$1" -Y 'dns.flags.response == 1 && (udp.srcport == 53 || tcp.srcport == 53)' \
      -T fields -E occurrence=a -E aggregator='|' \
      -e dns.count.answers -e dns.resp.name -e dns.resp.type -e dns.resp.ttl \
      -e dns.a -e dns.aaaa -e dns.cname |
    awk -F'\t' '{ n = $1 + 0; split($2, N, "|"); split($3, T, "|"); split($4, L, "|")
                  split($5, A, "|"); split($6, A6, "|"); split($7, C, "|"); ia = 0; i6 = 0; ic = 0
                  for (i = 1; i <= n; i++) {
                    if (T[i] == 1) { v = A[++ia]; ty = "A" }
                    else if (T[i] == 28) { v = A6[++i6]; ty = "AAAA" }
                    else if (T[i] == 5) { v = C[++ic]; ty = "CNAME" }
                    else continue
                    print N[i] "," ty "," v "," L[i] } }' |
    LC_ALL=C sort -u
}

check_dns() {
  local f=$1 prefix=$2 nresp
  nresp=$(ts -r "$f" -Y 'dns.flags.response == 1 && (udp.srcport == 53 || tcp.srcport == 53)' | wc -l)
  tshark_dns "$f" >"$prefix.dns.tshark"
  if diff -q <(tail -n +2 "$prefix.dns.csv" | LC_ALL=C sort) "$prefix.dns.tshark" >/dev/null; then
    ok "$prefix.dns.csv equals the answers tshark decodes ($nresp responses, $(wc -l <"$prefix.dns.tshark") distinct records)"
  else
    bad "$prefix.dns.csv differs from the answers tshark decodes"
    diff <(tail -n +2 "$prefix.dns.csv" | LC_ALL=C sort) "$prefix.dns.tshark" | head -5
  fi
}

check_summary() {
  local prefix=$1 want=$2 p ipp ipb
  p=$(sed -n 's/^  "packets": \([0-9]*\),$/\1/p' "$prefix.summary.json")
  ipp=$(sed -n 's/^  "ip_packets": \([0-9]*\),$/\1/p' "$prefix.summary.json")
  ipb=$(sed -n 's/^  "ip_bytes": \([0-9]*\),$/\1/p' "$prefix.summary.json")
  read -r sp sb < <(awk -F, 'NR > 1 {p += $2; b += $3} END {printf "%.0f %.0f\n", p, b}' "$prefix.seconds.csv")
  if [[ $p == "$want" && $ipp == "$sp" && $ipb == "$sb" ]]; then
    ok "$prefix.summary.json: packets=$p ip_packets=$ipp ip_bytes=$ipb (consistent with seconds.csv)"
  else
    bad "$prefix.summary.json: packets=$p (want $want) ip_packets=$ipp/$sp ip_bytes=$ipb/$sb"
  fi
}

check_order() {
  local f=$1 start=$2 res
  res=$(ts -r "$f" -T fields -e frame.time_epoch |
        awk -v start="$start" 'NR == 1 { first = $1 } { if (NR > 1 && $1 < last) back++; last = $1 }
                               END { split(first, t, "."); printf "%d %s\n", back, (t[1] == start && t[2] + 0 == 0) ? "yes" : "no" }')
  if [[ $res == "0 yes" ]]; then ok "$f: timestamps non-decreasing, first at $start"
  else bad "$f: timestamp order/first check: $res"; fi
}

check_snaplen() {
  local f=$1 snap=$2 over partial
  over=$(ts -r "$f" -Y "frame.cap_len > $snap && !(udp.port == 53 || tcp.port == 53 || udp.port == 5353 || udp.port == 67)" | wc -l)
  partial=$(ts -r "$f" -Y "frame.cap_len < frame.len && (udp.port == 53 || tcp.port == 53 || udp.port == 5353 || udp.port == 67)" | wc -l)
  if [[ $over -eq 0 && $partial -eq 0 ]]; then ok "$f: other frames cut at $snap bytes, DNS/mDNS/DHCP stored whole"
  else bad "$f: $over frames over snaplen, $partial truncated DNS/DHCP frames"; fi
}

echo "generator: $gen"
echo "work dir:  $work"

# ---------------------------------------------------------------- 0. the filter itself catches a bad checksum
"$gen" --packets 50 --out selftest.pcap >/dev/null
cp selftest.pcap corrupt.pcap
# first frame is a DHCP DISCOVER: flip a byte of its IPv4 source address
printf '\x01' | dd of=corrupt.pcap bs=1 seek=$((24 + 16 + 14 + 12)) conv=notrunc status=none
if [[ $(ts -r corrupt.pcap -Y "$BAD" | wc -l) -ge 1 ]]; then ok "self-test: a corrupted header is detected"
else bad "self-test: corrupted header NOT detected (filter broken?)"; fi

# ---------------------------------------------------------------- 1. small full-size run: flows exact
"$gen" --packets 30000 --rate 1500 --snaplen 65535 --seed 7 --out small.pcap --truth small --truth-flows
check_clean small.pcap 30000
check_order small.pcap 1767225600
check_seconds small.pcap small
check_flows small.pcap small
check_dns small.pcap small
check_summary small 30000

# ---------------------------------------------------------------- 2. default options (snaplen 128, rate 15000)
"$gen" --packets 200000 --out default.pcap --truth default --truth-flows
check_clean default.pcap 200000
check_snaplen default.pcap 128
check_seconds default.pcap default
check_flows default.pcap default
check_dns default.pcap default
check_summary default 200000
info "rate: $(awk -F, 'NR > 1 {n++; p += $2} END {printf "%d seconds, %.0f packets/s", n, p / n}' default.seconds.csv)"
info "protocols: $(ts -r default.pcap -q -z io,phs | awk '$1 ~ /^(tcp|udp|dns|quic|tls|icmp|icmpv6|arp|mdns|ssdp|dhcp|ntp|igmp)$/ {printf "%s:%s ", $1, $2}')"

# ---------------------------------------------------------------- 3. determinism
mkdir -p det1 det2
(cd det1 && "$gen" --packets 50000 --seed 42 --cdn-overlap --out d.pcap --truth d --truth-flows)
(cd det2 && "$gen" --packets 50000 --seed 42 --cdn-overlap --out d.pcap --truth d --truth-flows)
same=1
for f in d.pcap d.seconds.csv d.flows.csv d.devices.csv d.dns.csv d.summary.json; do
  cmp -s "det1/$f" "det2/$f" || { same=0; bad "determinism: det1/$f and det2/$f differ"; }
done
[[ $same -eq 1 ]] && ok "determinism: two runs with seed 42 are byte-identical (pcap + 5 truth files)"
"$gen" --packets 50000 --seed 43 --cdn-overlap --out det3.pcap
if cmp -s det1/d.pcap det3.pcap; then bad "seed 43 produced the same capture as seed 42"
else ok "a different seed gives a different capture"; fi

# ---------------------------------------------------------------- 4. --packets 10
"$gen" --packets 10 --out ten.pcap --truth ten --truth-flows
check_clean ten.pcap 10
check_seconds ten.pcap ten
check_flows ten.pcap ten

# ---------------------------------------------------------------- 5. --vlan 7
"$gen" --packets 20000 --vlan 7 --snaplen 65535 --out vlan.pcap --truth vlan --truth-flows
check_clean vlan.pcap 20000
untagged=$(ts -r vlan.pcap -Y '!(vlan.id == 7)' | wc -l)
tagged=$(ts -r vlan.pcap -Y 'vlan.id == 7' | wc -l)
if [[ $untagged -eq 0 && $tagged -eq 20000 ]]; then ok "vlan.pcap: all $tagged frames carry VLAN 7"
else bad "vlan.pcap: $tagged tagged, $untagged without VLAN 7"; fi
check_seconds vlan.pcap vlan
check_flows vlan.pcap vlan

# ---------------------------------------------------------------- 6. --cdn-overlap
"$gen" --packets 100000 --cdn-overlap --seed 3 --out cdn.pcap --truth cdn
check_clean cdn.pcap 100000
check_dns cdn.pcap cdn
check_seconds cdn.pcap cdn
shared=$(awk -F, 'NR > 1 && ($2 == "A" || $2 == "AAAA") { if (!((($1) SUBSEP ($3)) in seen)) { seen[$1, $3] = 1; n[$3]++ } }
                  END { for (a in n) if (n[a] > 1) c++; print c + 0 }' cdn.dns.csv)
names=$(awk -F, 'NR > 1 {print $1}' cdn.dns.csv | sort -u | wc -l)
cnames=$(awk -F, 'NR > 1 && $2 == "CNAME"' cdn.dns.csv | wc -l)
if [[ $shared -ge 10 && $names -ge 40 ]]; then
  ok "cdn.dns.csv: $names names, $cnames CNAME records, $shared addresses shared by several names"
else
  bad "cdn.dns.csv: only $names names / $shared shared addresses"
fi

# ---------------------------------------------------------------- 7. --dns-share (DNS-heavy)
"$gen" --packets 100000 --dns-share 0.25 --seed 5 --out heavy.pcap --truth heavy --truth-flows
check_clean heavy.pcap 100000
check_snaplen heavy.pcap 128
check_seconds heavy.pcap heavy
check_flows heavy.pcap heavy
check_dns heavy.pcap heavy
check_summary heavy 100000
field() { sed -n "s/^  \"$2\": \([0-9]*\),\$/\1/p" "$1.summary.json"; }
resp=$(field heavy dns_response_frames)
tresp=$(ts -r heavy.pcap -Y 'dns.flags.response == 1 && (udp.srcport == 53 || tcp.srcport == 53)' | wc -l)
tnx=$(ts -r heavy.pcap -Y 'dns.flags.response == 1 && dns.flags.rcode == 3 && (udp.srcport == 53 || tcp.srcport == 53)' | wc -l)
if [[ $resp == "$tresp" && $tnx == "$(field heavy dns_nxdomain_responses)" ]] &&
   awk -v r="$resp" 'BEGIN {exit !(r / 100000 > 0.235 && r / 100000 < 0.265)}'; then
  ok "heavy.summary.json: dns_response_frames=$resp (= tshark, share $(awk -v r="$resp" 'BEGIN {printf "%.3f", r / 100000}'), target 0.25), NXDOMAIN $tnx"
else
  bad "heavy: dns_response_frames=$resp, tshark $tresp (want share 0.25), NXDOMAIN $tnx / $(field heavy dns_nxdomain_responses)"
fi
hnames=$(awk -F, 'NR > 1 {print $1}' heavy.dns.csv | sort -u | wc -l)
hcnames=$(awk -F, 'NR > 1 && $2 == "CNAME"' heavy.dns.csv | wc -l)
if [[ $hnames -ge 1000 && $hcnames -ge 200 ]]; then ok "heavy.dns.csv: $hnames names, $hcnames CNAME records"
else bad "heavy.dns.csv: only $hnames names / $hcnames CNAME records"; fi
# every packet a device sends to the internet goes to an address the
# resolver answered to that device (by MAC, any family of the lookup) before
router_mac=$(awk -F, 'NR == 2 {print $1}' heavy.devices.csv)
res=$(ts -r heavy.pcap -T fields -E occurrence=a -E aggregator='|' -e eth.src -e eth.dst -e ip.dst -e ipv6.dst \
        -e udp.srcport -e tcp.srcport -e dns.a -e dns.aaaa -e dns.flags.response |
      awk -F'\t' -v rm="$router_mac" '{ dst = $3 != "" ? $3 : $4
        if (($5 == "53" || $6 == "53") && $9 == "1") { n = split($7 "|" $8, A, "|")
          for (i = 1; i <= n; i++) if (A[i] != "") ans[$2, A[i]] = 1; next }
        if ($2 != rm || dst == "" || dst ~ /^(192\.168\.|fd00:1::|fe80|ff|22[4-9]\.|23[0-9]\.|255\.)/) next
        n_out++; if (!(($1, dst) in ans)) bad++; used[dst] = 1 }
        END { for (a in used) nu++; printf "%d %d %d\n", n_out, bad, nu }')
read -r hout hbad hused <<<"$res"
if [[ $hbad -eq 0 && $hused -ge 300 ]]; then
  ok "heavy.pcap: $hout packets to $hused internet addresses, each answered to the device before"
else
  bad "heavy.pcap: $hbad of $hout packets to an address not answered before ($hused addresses)"
fi
mkdir -p hdet1 hdet2
(cd hdet1 && "$gen" --packets 50000 --dns-share 0.3 --seed 9 --out h.pcap --truth h --truth-flows)
(cd hdet2 && "$gen" --packets 50000 --dns-share 0.3 --seed 9 --out h.pcap --truth h --truth-flows)
same=1
for f in h.pcap h.seconds.csv h.flows.csv h.devices.csv h.dns.csv h.summary.json; do
  cmp -s "hdet1/$f" "hdet2/$f" || { same=0; bad "determinism: hdet1/$f and hdet2/$f differ"; }
done
[[ $same -eq 1 ]] && ok "determinism: two --dns-share 0.3 runs are byte-identical (pcap + 5 truth files)"
"$gen" --packets 20000 --seed 4 --out share-unset.pcap --truth share-unset
"$gen" --packets 20000 --seed 4 --dns-share 0 --out share-zero.pcap --truth share-zero
if cmp -s share-unset.pcap share-zero.pcap && cmp -s share-unset.dns.csv share-zero.dns.csv; then
  ok "--dns-share 0 writes the capture of the default (only summary.json gains the DNS fields)"
else
  bad "--dns-share 0 changes the capture"
fi

# ---------------------------------------------------------------- 8. argument errors
args_ok=1
expect_rc() {
  local want=$1; shift
  local rc=0
  "$gen" "$@" >/dev/null 2>&1 || rc=$?
  [[ $rc -eq $want ]] || { args_ok=0; bad "'spin-trafficgen $*' exited $rc, want $want"; }
}
expect_rc 0 --help
expect_rc 2
expect_rc 2 --out x.pcap
expect_rc 2 --packets 10
expect_rc 2 --packets 0 --out x.pcap
expect_rc 2 --packets ten --out x.pcap
expect_rc 2 --packets 10 --out x.pcap --bogus
expect_rc 2 --packets 10 --out x.pcap --devices 0
expect_rc 2 --packets 10 --out x.pcap --vlan 4095
expect_rc 2 --packets 10 --out x.pcap --rate -5
expect_rc 2 --packets 10 --out x.pcap --truth-flows
expect_rc 2 --packets 10 --out x.pcap --snaplen
expect_rc 2 --packets 10 --out x.pcap --dns-share 0.7
expect_rc 2 --packets 10 --out x.pcap --dns-share -0.1
expect_rc 2 --packets 10 --out x.pcap --dns-share x
[[ $args_ok -eq 1 ]] && ok "argument errors exit 2, --help exits 0"

# ---------------------------------------------------------------- 9. 10 million packets
if [[ ${BIG:-1} != 0 ]]; then
  /usr/bin/time -v "$gen" --packets 10000000 --out big.pcap --truth big 2>big.time
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s}' big.time)
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' big.time)
  size=$(stat -c %s big.pcap)
  limit=${BIG_LIMIT:-15}
  info "10M packets: wall ${wall}s, user $(awk -F': ' '/User time/ {print $2}' big.time)s," \
       "sys $(awk -F': ' '/System time/ {print $2}' big.time)s, max RSS ${rss} KiB, pcap $size bytes"
  check_summary big 10000000
  if awk -v w="$wall" -v l="$limit" 'BEGIN {exit !(w < l)}'; then ok "10M packets written in ${wall}s (< ${limit}s)"
  else bad "10M packets took ${wall}s (limit ${limit}s)"; fi
  if [[ $rss -lt 200000 ]]; then ok "10M packets: peak RSS ${rss} KiB"; else bad "10M packets: peak RSS ${rss} KiB"; fi
  if [[ ${BIG_TSHARK:-0} == 1 ]]; then
    check_clean big.pcap 10000000
    check_seconds big.pcap big
  fi
  rm -f big.pcap
  # the DNS-heavy benchmark capture
  /usr/bin/time -v "$gen" --packets 8000000 --seed 1 --dns-share 0.2 --out bigdns.pcap --truth bigdns 2>bigdns.time
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s}' bigdns.time)
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' bigdns.time)
  resp=$(field bigdns dns_response_frames)
  info "8M packets --dns-share 0.2: wall ${wall}s, user $(awk -F': ' '/User time/ {print $2}' bigdns.time)s," \
       "sys $(awk -F': ' '/System time/ {print $2}' bigdns.time)s, max RSS ${rss} KiB, pcap $(stat -c %s bigdns.pcap) bytes"
  check_summary bigdns 8000000
  if awk -v w="$wall" -v l="$limit" -v r="$resp" -v m="$rss" 'BEGIN {exit !(w < l && m < 200000 && r / 8e6 > 0.19 && r / 8e6 < 0.21)}'; then
    ok "8M packets --dns-share 0.2 in ${wall}s, peak RSS ${rss} KiB, response share $(awk -v r="$resp" 'BEGIN {printf "%.4f", r / 8e6}')"
  else
    bad "8M packets --dns-share 0.2: ${wall}s (limit ${limit}s), RSS ${rss} KiB, $resp response frames"
  fi
  rm -f bigdns.pcap
fi

echo
if [[ $failures -eq 0 ]]; then
  echo "all checks passed"
  [[ -n ${WORKDIR:-} ]] || rm -rf "$work"
  exit 0
fi
echo "$failures check(s) FAILED (files kept in $work)"
exit 1
