#!/usr/bin/env bash
# install-deps.sh [--extras] - apt-install what the QEMU lab needs (Debian bookworm, root). This is
# the one list: .ci/run calls it with --extras.
#   required: qemu-system-x86 (pulls seabios), qemu-system-arm + qemu-efi-aarch64 (the arm64
#             UEFI VM, AAVMF), ipxe-qemu (QEMU NIC option ROMs = iPXE), ipxe (undionly.kpxe and
#             ipxe.efi for the lab's own selftest), ovmf (UEFI firmware), busybox-static + cpio
#             (test initramfs), iproute2 (netns/veth/bridge/tap), dnsmasq-base (reference server
#             and the lab's IPv6 RA daemon; a binary only, no service), python3 (reference HTTP),
#             tcpdump (optional captures, pcap-timeline.sh), curl
#   --extras: what the other suites and benchmarks run against: real DHCP clients (ISC
#             dhclient; udhcpc is in busybox-static), a relay (isc-dhcp-relay), reference servers
#             (Kea, tftpd-hpa, nginx-light), perfdhcp (kea-admin), TFTP clients (tftp-hpa, atftp),
#             systemd-analyze (systemd) for the service unit's test, xorriso, genisoimage and udftools
#             (ISO 9660 and UDF images the ISO reader's tests build), cloud-init (its `schema`
#             command and network parser check the NoCloud seed; none of its services runs: the
#             policy-rc.d below, and /etc/cloud/cloud-init.disabled when this script installed it)
#             chromium (the web UI's browser tests, test/ui, drive it with playwright-core)
#             zsh (the completion function's tests load it in a real zsh)
#             prometheus (promtool checks the /metrics exposition, and test/metrics.test.ts runs
#             a Prometheus of its own on loopback; the packaged service is not started, nor
#             enabled for the next boot when this script installed it)
# No daemon is started: a policy-rc.d that forbids service starts is put in place for the
# duration of the install when none exists. Set E2E_SKIP_APT_UPDATE=1 to skip apt-get update.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "install-deps.sh: must run as root" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
PKGS=(qemu-system-x86 qemu-system-arm qemu-efi-aarch64 seabios ipxe-qemu ipxe ovmf busybox-static cpio iproute2 dnsmasq-base python3 tcpdump curl)
[ "${1:-}" = --extras ] && PKGS+=(systemd isc-dhcp-client isc-dhcp-relay kea-dhcp4-server kea-admin tftp-hpa atftp tftpd-hpa nginx-light xorriso genisoimage udftools cloud-init prometheus)
[ "${1:-}" = --extras ] && PKGS+=(chromium zsh)

POLICY=/usr/sbin/policy-rc.d; made_policy=0
if [ ! -e "$POLICY" ]; then printf '#!/bin/sh\nexit 101\n' > "$POLICY"; chmod +x "$POLICY"; made_policy=1; fi
cleanup() { if [ "$made_policy" = 1 ]; then rm -f "$POLICY"; fi; }
trap cleanup EXIT

missing=()
for p in "${PKGS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  [ "${E2E_SKIP_APT_UPDATE:-0}" = 1 ] || apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  # cloud-init is here for its checker only: if this host boots with systemd, it must not run
  # at the next boot (its documented off switch, honoured by its systemd generator).
  if [[ " ${missing[*]} " == *" cloud-init "* ]]; then mkdir -p /etc/cloud && touch /etc/cloud/cloud-init.disabled; fi
  # The same for prometheus: its postinst enables the service (the start itself the policy-rc.d
  # refused); systemctl disable edits the unit links without a running systemd.
  if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null; then systemctl disable --quiet prometheus.service || echo "install-deps.sh: could not disable prometheus.service (it is not running: the policy-rc.d refused its start)" >&2; fi
fi
ok=1
for f in /usr/bin/qemu-system-x86_64 /usr/bin/qemu-system-aarch64 /usr/share/AAVMF/AAVMF_CODE.fd /usr/lib/ipxe/undionly.kpxe /usr/lib/ipxe/ipxe.efi /usr/share/ovmf/OVMF.fd \
         /usr/lib/ipxe/qemu/efi-e1000.rom /usr/lib/ipxe/qemu/efi-virtio.rom /bin/busybox /usr/sbin/dnsmasq; do
  [ -e "$f" ] || { echo "install-deps.sh: missing after install: $f" >&2; ok=0; }
done
[ "$ok" = 1 ] || exit 1
dpkg-query -W -f='${Package} ${Version}\n' "${PKGS[@]}"
