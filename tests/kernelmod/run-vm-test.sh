#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# spin.ko in a VM: builds the module against Debian's linux-headers-amd64,
# fetches the matching linux-image (apt-get download, not installed), packs
# an initramfs with busybox-static, the module, veth and the static test
# programs, boots it in qemu (TCG, one CPU, no NIC) and runs vm-init.sh
# there. PASS/FAIL comes from a marker on the serial console; qemu runs
# under a timeout. Needs no root on the host.
#
#   run-vm-test.sh [BUILD_DIR]
#
# BUILD_DIR (or $SPIN_BUILD_DIR; default /tmp/spin-kmod-test) receives
# everything built: the module, the test programs, the initramfs and the
# serial log (kmod-vm/). With SPIND set to the built spind, spind runs in
# the VM with --source kmod and a mosquitto (their shared libraries copied
# into the initramfs), and check_spind_reports.py checks what it published.
# The kernel image is cached in $SPIN_KMOD_CACHE
# (default BUILD_DIR/kmod-cache). SPIN_KMOD_COST=N adds N rounds of the
# per-packet cost measurement (doc/kernelmod.md). Exits 0 on PASS, 1 on
# FAIL, 77 with "SKIP: <reason>" when a tool, the headers or the download
# is unavailable.
#
# Debian packages: linux-headers-amd64, qemu-system-x86, busybox-static,
# kmod, cpio, gcc, make, libc6-dev (static libc), apt (apt-get download).

set -u
export PATH="$PATH:/usr/sbin:/sbin"
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${1:-${SPIN_BUILD_DIR:-/tmp/spin-kmod-test}}
work="$build/kmod-vm"
cache=${SPIN_KMOD_CACHE:-$build/kmod-cache}
busybox=${SPIN_BUSYBOX:-/bin/busybox}
cost=${SPIN_KMOD_COST:-}	# N: also measure ns/packet over N rounds (slow)
timeout_s=${SPIN_KMOD_TIMEOUT:-$((300 + ${cost:-0} * 60))}

skip() {
	echo "SKIP: $*"
	exit 77
}
fail() {
	echo "FAIL: $*"
	exit 1
}

for tool in qemu-system-x86_64 gcc make cpio gzip dpkg-deb dpkg-query \
	    depmod modprobe apt-get readelf timeout; do
	command -v "$tool" >/dev/null || skip "$tool not found"
done
[ -x "$busybox" ] || skip "$busybox not found (install busybox-static)"
if readelf -l "$busybox" | grep -q 'program interpreter'; then
	skip "$busybox is not static (install busybox-static)"
fi

hdr_version=$(dpkg-query -W -f='${Version}' linux-headers-amd64 2>/dev/null) ||
	skip "linux-headers-amd64 is not installed"
krel=$(dpkg-query -W -f='${Depends}' linux-headers-amd64 |
	sed -n 's/.*linux-headers-\([^ ,]*\).*/\1/p')
kdir="/usr/src/linux-headers-$krel"
[ -n "$krel" ] && [ -d "$kdir" ] || skip "kernel headers $kdir not found"
echo "# kernel $krel (linux-headers-amd64 $hdr_version)"

mkdir -p "$work" "$cache" || fail "cannot create $work or $cache"

# ---------------------------------------------------------------- kernel
deb="$cache/linux-image-${krel}_${hdr_version//:/%3a}_amd64.deb"
if [ ! -s "$deb" ]; then
	(cd "$cache" && apt-get download "linux-image-$krel=$hdr_version") \
		>"$work/apt.log" 2>&1 ||
		skip "apt-get download linux-image-$krel=$hdr_version failed (no network?): $(tail -1 "$work/apt.log")"
fi
[ -s "$deb" ] || skip "the download did not produce $deb"
ext="$cache/ext-$krel-$hdr_version"
if [ ! -e "$ext/lib/modules/$krel/modules.dep" ]; then
	rm -rf "$ext.tmp"
	mkdir -p "$ext.tmp"
	dpkg-deb -x "$deb" "$ext.tmp" || fail "dpkg-deb -x $deb"
	depmod -b "$ext.tmp" "$krel" || fail "depmod -b"
	rm -rf "$ext"
	mv "$ext.tmp" "$ext"
fi
vmlinuz="$ext/boot/vmlinuz-$krel"
[ -r "$vmlinuz" ] || fail "no readable $vmlinuz"

# ---------------------------------------------------------------- build
rm -rf "$work/kmod-src"
mkdir -p "$work/kmod-src"
cp -r "$src/kernelmod/." "$work/kmod-src/"
make -C "$kdir" M="$work/kmod-src" W=1 modules >"$work/kbuild.log" 2>&1 || {
	cat "$work/kbuild.log"
	fail "spin.ko does not build"
}
if grep -E 'warning:|error:' "$work/kbuild.log"; then
	fail "spin.ko builds with warnings (W=1)"
fi
echo "# spin.ko built with W=1, no warnings"

mkdir -p "$work/bin"
for prog in spin_kt_listen spin_kt_config spin_kt_traffic; do
	gcc -static -O2 -Wall -Wextra -Werror -I"$src/kernelmod/include/uapi" \
		-o "$work/bin/$prog" "$here/$prog.c" || fail "cannot build $prog"
done

# ---------------------------------------------------------------- initramfs
root="$work/initramfs"
rm -rf "$root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,lib/kmod}
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
cp "$work/bin/"* "$root/bin/"
cp "$here/vm-init.sh" "$root/init"
chmod 755 "$root/init" "$root/bin/"*
cp "$work/kmod-src/spin.ko" "$root/lib/kmod/spin.ko"
: >"$root/lib/kmod/load.list"
modprobe -d "$ext" -S "$krel" --show-depends veth >"$work/deps.txt" ||
	fail "modprobe --show-depends veth"
while read -r verb path _; do
	[ "$verb" = insmod ] || continue
	cp "$path" "$root/lib/kmod/"
	basename "$path" >>"$root/lib/kmod/load.list"
done <"$work/deps.txt"
# spind (with --source kmod) and a broker, with their shared libraries,
# when SPIND names the built daemon (ctest sets it).
spind_bin=${SPIND:-}
if [ -n "$spind_bin" ]; then
	[ -x "$spind_bin" ] || fail "SPIND=$spind_bin is not executable"
	for tool in mosquitto mosquitto_sub mosquitto_pub ldd python3; do
		command -v "$tool" >/dev/null || skip "$tool not found (mosquitto, mosquitto-clients, python3)"
	done
	mkdir -p "$root/etc"
	printf 'root:x:0:0:root:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
	for b in "$spind_bin" "$(command -v mosquitto)" "$(command -v mosquitto_sub)" \
		 "$(command -v mosquitto_pub)" ${SPINCTL:+"$SPINCTL"}; do
		cp "$b" "$root/bin/"
		for lib in $(ldd "$b" | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }'); do
			mkdir -p "$root$(dirname "$lib")"
			cp -L "$lib" "$root$lib"
		done
	done
	if [ -n "${SPINCTL:-}" ]; then
		[ -x "$SPINCTL" ] || fail "SPINCTL=$SPINCTL is not executable"
		cp "$SPINCTL" "$root/bin/" # the same libraries as spind
	fi
	echo "# spind and mosquitto packed with their libraries"
fi
(cd "$root" && find . -print0 | cpio --null -o -H newc --owner=0:0 2>/dev/null) |
	gzip -1 >"$work/initramfs.gz" || fail "cannot pack the initramfs"

# ---------------------------------------------------------------- boot
log="$work/serial.log"
rm -f "$log"
echo "# booting (TCG, timeout ${timeout_s}s); serial log: $log"
start=$(date +%s)
timeout "$timeout_s" qemu-system-x86_64 -accel tcg -smp 1 -m 512 \
	-nodefaults -nic none -no-reboot -display none -monitor none \
	-serial "file:$log" -kernel "$vmlinuz" -initrd "$work/initramfs.gz" \
	-append "console=ttyS0 panic=-1 panic_on_warn=1 oops=panic loglevel=4${cost:+ spin_cost=$cost}" \
	</dev/null >"$work/qemu.log" 2>&1
rc=$?
echo "# qemu exited with $rc after $(($(date +%s) - start)) s"

grep -a -E '^(ok|not ok|#) ' "$log" | tr -d '\r'
spind_ok=1
if [ -n "$spind_bin" ] && grep -a -q '^SPIN-KMOD-TEST: ' "$log"; then
	sed -n '/^SPIND-MQTT-BEGIN/,/^SPIND-MQTT-END/p' "$log" | tr -d '\r' |
		sed '1d;$d' >"$work/spind-mqtt.txt"
	python3 "$here/check_spind_reports.py" "$work/spind-mqtt.txt" || spind_ok=0
fi
if grep -a -q '^SPIN-KMOD-TEST: PASS' "$log" && [ "$spind_ok" = 1 ]; then
	echo "PASS"
	exit 0
fi
echo "# --- last 80 lines of the serial console ---"
tail -n 80 "$log" | tr -d '\r'
cat "$work/qemu.log"
[ "$rc" -eq 124 ] && fail "the VM did not finish within ${timeout_s}s"
fail "no PASS marker on the serial console"
