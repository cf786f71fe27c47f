#!/bin/bash
# End-to-end load benchmark: how fast spind turns a big capture into MQTT
# messages, next to softflowd -r, pmacctd and spin's single-threaded baseline
# loop on the same file, all measured in one session on this machine.
#
#   bench/run-e2e.sh [PACKETS] [RUNS] [DNS_SHARE]
#
# Defaults: 8000000 packets, 5 runs, the generator's usual DNS share (~2% of
# the frames are responses). DNS_SHARE 0.2 makes the DNS-heavy capture of
# doc/benchmarks.md: 20% of the frames are DNS responses (and about as many
# are queries). SPIN_BENCH_EXTRA names one more spind binary to measure in
# the same session (say, a build of an earlier commit), as "spind-other".
#
# Needs a built tree (tools/build) and root for apt (softflowd, pmacct, time).
# Prints one line per run and a median table (wall seconds, Mpps, peak RSS).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${SPIN_BUILD_DIR:-$top/build}
packets=${1:-8000000}
runs=${2:-5}
dns_share=${3:-}
work=${SPIN_BENCH_DIR:-/tmp/spin-bench}
mkdir -p "$work"

for p in softflowd pmacct time mosquitto; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$p" >/dev/null
done

name=bench-$packets
gen_extra=()
if [ -n "$dns_share" ]; then
  name=dnsheavy-$packets
  [ "$dns_share" = 0.2 ] || name=dns$dns_share-$packets
  gen_extra=(--dns-share "$dns_share")
fi
pcap=$work/$name.pcap
if [ ! -s "$pcap" ]; then
  echo "generating $pcap"
  "$build/bench/trafficgen/spin-trafficgen" --packets "$packets" --seed 1 \
    "${gen_extra[@]}" --out "$pcap" --truth "$work/$name" >/dev/null
fi
ip_packets=$(sed -n 's/.*"ip_packets": *\([0-9]*\).*/\1/p' "$work/$name.summary.json")
cat "$pcap" >/dev/null # page cache: every tool reads the file from memory

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$port" \
  >"$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
broker=$!
# A NetFlow sink for softflowd, so its exports have somewhere to go.
python3 -c 'import socket
s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 9995))
while True: s.recv(65536)' &
sink=$!
trap 'kill $broker $sink 2>/dev/null || true' EXIT
sleep 0.5

cat >"$work/pmacctd.conf" <<CONF
daemonize: false
pcap_savefile: $pcap
aggregate: src_host, dst_host, src_port, dst_port, proto
plugins: print
print_output: csv
print_output_file: $work/pmacct.out
print_refresh_time: 1
plugin_buffer_size: 4194304
plugin_pipe_size: 134217728
print_cache_entries: 131071
CONF

results=$work/results.txt
: >"$results"
measure() { # name, command...
  local name=$1
  shift
  for i in $(seq "$runs"); do
    /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" >"$work/$name.out" 2>&1 || {
      echo "$name failed:"
      tail -5 "$work/$name.out"
      return 1
    }
    read -r secs rss <"$work/time.txt"
    echo "$name run $i: $secs s, peak RSS $((rss / 1024)) MiB"
    echo "$name $secs $rss" >>"$results"
  done
}

measure spind "$build/actors/spind" --source "pcap:$pcap" --replay fast \
  --mqtt_port "$port" --state_dir "$work/state" --stat_interval 0
if [ -n "${SPIN_BENCH_EXTRA:-}" ]; then
  measure spind-other "$SPIN_BENCH_EXTRA" --source "pcap:$pcap" --replay fast \
    --mqtt_port "$port" --state_dir "$work/state" --stat_interval 0
fi
measure spind-1shard "$build/actors/spind" --source "pcap:$pcap" --replay fast \
  --mqtt_port "$port" --state_dir "$work/state" --stat_interval 0 --shards 1
measure baseline "$build/bench/spin-baseline" "$pcap"
measure softflowd softflowd -r "$pcap" -v 9 -n 127.0.0.1:9995 -6
measure pmacctd pmacctd -f "$work/pmacctd.conf"

echo
echo "capture: $packets frames, $ip_packets IP packets ($pcap)"
echo "machine: $(nproc) cores, $(sed -n 's/model name\s*: //p' /proc/cpuinfo | head -1)"
printf '%-14s %8s %8s %8s %10s %10s\n' tool median min max Mpps "RSS MiB"
for name in spind spind-other spind-1shard baseline softflowd pmacctd; do
  awk -v n="$name" -v pk="$ip_packets" '$1 == n { t[++c] = $2; m = ($3 > m ? $3 : m) }
    END {
      if (c == 0) exit
      for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (t[j] < t[i]) { x = t[i]; t[i] = t[j]; t[j] = x }
      med = (c % 2) ? t[(c + 1) / 2] : (t[c / 2] + t[c / 2 + 1]) / 2
      printf "%-14s %8.2f %8.2f %8.2f %10.2f %10.0f\n", n, med, t[1], t[c], pk / med / 1e6, m / 1024
    }' "$results"
done
