#!/usr/bin/env bash
# disk-boot.sh - boot one QEMU VM from a raw disk image (virtio-blk) and wait for serial markers.
# The disk-side sibling of vm-boot.sh: same lab (lab-up.sh first), same firmware, same exit codes.
#
#   disk-boot.sh --disk FILE [--fw bios|uefi] [--mac M] [--nic e1000|virtio] [--log FILE]
#                [--timeout SEC] [--marker REGEX]... [--fail-marker REGEX] [--mem MB] [--snapshot]
#
# Success (exit 0): every --marker (default 'socle-image: booted from disk') has appeared on the
#   serial console. Failure: exit 1 when --fail-marker (default 'Kernel panic') is seen or QEMU
#   exits first; exit 124 on timeout; exit 2 on usage/setup errors. QEMU (by PID) and the tap are
#   always removed afterwards.
# --fw bios : SeaBIOS (-machine pc)         --fw uefi : OVMF (-machine q35)
# --mac M   : a NIC with that MAC on a tap on $E2E_BRIDGE (no option ROM: nothing network-boots).
#             Without --mac the VM has no network device at all.
# --snapshot: writes go to a temporary overlay, FILE is left as it was.
# QEMU runs inside netns $E2E_NS_VM either way (see lab-up.sh). TCG, as vm-boot.sh explains.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lab.conf.sh"

usage() { sed -n '2,17p' "$0" >&2; exit 2; }
DISK=; FW=bios; MAC=; NIC=virtio; LOG=; TIMEOUT=90; MEM=256; SNAP=0
MARKERS=(); FAILMARKER='Kernel panic'
while [ $# -gt 0 ]; do
  case "$1" in
    --disk) DISK=${2:?}; shift 2 ;;
    --fw) FW=${2:?}; shift 2 ;;
    --mac) MAC=${2:?}; shift 2 ;;
    --nic) NIC=${2:?}; shift 2 ;;
    --log) LOG=${2:?}; shift 2 ;;
    --timeout) TIMEOUT=${2:?}; shift 2 ;;
    --marker) MARKERS+=("${2:?}"); shift 2 ;;
    --fail-marker) FAILMARKER=${2:?}; shift 2 ;;
    --mem) MEM=${2:?}; shift 2 ;;
    --snapshot) SNAP=1; shift ;;
    -h|--help) usage ;;
    *) echo "disk-boot.sh: unknown argument: $1" >&2; usage ;;
  esac
done
fail_setup() { echo "disk-boot.sh: ERROR: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || fail_setup "must run as root"
[ -f "$DISK" ] || fail_setup "--disk FILE: no such file: $DISK"
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || fail_setup "--timeout must be seconds"
[ ${#MARKERS[@]} -gt 0 ] || MARKERS=('socle-image: booted from disk')
command -v qemu-system-x86_64 >/dev/null || fail_setup "qemu-system-x86_64 missing (install-deps.sh)"
e2e_ns_exists "$E2E_NS_VM" || fail_setup "netns $E2E_NS_VM missing: run lab-up.sh first"
[ -n "$LOG" ] || LOG="$E2E_STATE/disk-$(basename "$DISK").log"
mkdir -p "$(dirname "$LOG")" "$E2E_STATE"
: > "$LOG"

case "$FW" in
  bios) FWARGS=(-machine pc) ;;
  uefi)
    OVMF=/usr/share/ovmf/OVMF.fd
    [ -f "$OVMF" ] || fail_setup "$OVMF missing (apt-get install ovmf)"
    FWARGS=(-machine q35 -bios "$OVMF") ;;
  *) fail_setup "--fw bios|uefi" ;;
esac
DRIVE="file=$DISK,format=raw,if=none,id=d0"
[ "$SNAP" = 1 ] && DRIVE="$DRIVE,snapshot=on"
NETARGS=(); TAP=
if [ -n "$MAC" ]; then
  [[ "$MAC" =~ ^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$ ]] || fail_setup "--mac aa:bb:cc:dd:ee:ff"
  MAC=$(echo "$MAC" | tr 'A-F' 'a-f')
  ip netns exec "$E2E_NS_VM" ip link show "$E2E_BRIDGE" >/dev/null 2>&1 || fail_setup "bridge $E2E_BRIDGE missing in $E2E_NS_VM: run lab-up.sh"
  case "$NIC" in e1000) DEV=e1000 ;; virtio) DEV=virtio-net-pci ;; *) fail_setup "--nic e1000|virtio" ;; esac
  TAP="vm${MAC//:/}"; TAP=${TAP:0:15}
  NETARGS=(-netdev "tap,id=n0,ifname=$TAP,script=no,downscript=no" -device "$DEV,netdev=n0,mac=$MAC,romfile=")
fi

QPID=
cleanup() {
  set +e
  if [ -n "$QPID" ] && e2e_pid_alive "$QPID"; then
    kill -TERM "$QPID" 2>/dev/null
    for _ in $(seq 1 20); do e2e_pid_alive "$QPID" || break; sleep 0.1; done
    kill -KILL "$QPID" 2>/dev/null
  fi
  [ -n "$QPID" ] && wait "$QPID" 2>/dev/null
  [ -z "$TAP" ] || ip netns exec "$E2E_NS_VM" ip link del "$TAP" >/dev/null 2>&1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "$TAP" ]; then
  ip netns exec "$E2E_NS_VM" ip link del "$TAP" >/dev/null 2>&1 || true
  ip netns exec "$E2E_NS_VM" ip tuntap add dev "$TAP" mode tap
  ip netns exec "$E2E_NS_VM" ip link set "$TAP" master "$E2E_BRIDGE" up
fi

T0=$(date +%s.%N)
ip netns exec "$E2E_NS_VM" qemu-system-x86_64 \
  -name "disk-e2e-$FW" -accel tcg,tb-size=64 "${FWARGS[@]}" -m "$MEM" -smp 1 \
  -nodefaults -no-user-config -nographic -monitor none -no-reboot \
  -serial "file:$LOG" \
  -drive "$DRIVE" -device virtio-blk-pci,drive=d0,bootindex=0 \
  "${NETARGS[@]}" \
  </dev/null >"$LOG.qemu" 2>&1 &
QPID=$!
echo "disk-boot.sh: started qemu pid $QPID fw $FW disk $DISK${MAC:+ mac $MAC tap $TAP} log $LOG" >&2

all_seen() { local m; for m in "${MARKERS[@]}"; do grep -qaE -- "$m" "$LOG" || return 1; done; }
rc=124; why="timeout after ${TIMEOUT}s"
deadline=$(( $(date +%s) + TIMEOUT ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  if all_seen; then rc=0; why="all ${#MARKERS[@]} markers seen"; break; fi
  if grep -qaE -- "$FAILMARKER" "$LOG"; then rc=1; why="fail marker: $(grep -aE -- "$FAILMARKER" "$LOG" | head -n1 | tr -d '\r')"; break; fi
  if ! e2e_pid_alive "$QPID"; then
    if all_seen; then rc=0; why="all markers seen"; else rc=1; why="qemu exited first: $(tail -c 300 "$LOG.qemu" | tr '\n' ' ')"; fi
    break
  fi
  sleep 0.25
done
if [ "$rc" = 124 ]; then
  for m in "${MARKERS[@]}"; do grep -qaE -- "$m" "$LOG" || why="$why; not seen: '$m'"; done
fi
ELAPSED=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
echo "disk-boot.sh: fw $FW: $( [ $rc = 0 ] && echo PASS || echo FAIL ) ($why) in ${ELAPSED}s; serial log $LOG" >&2
echo "elapsed_s=$ELAPSED rc=$rc"
exit $rc
