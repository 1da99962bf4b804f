#!/usr/bin/env bash
# ha-up.sh - add an HA pair's second server to the lab (idempotent). Run after lab-up.sh; lab-down.sh
# removes it with the rest.
#
#   netns $E2E_NS_SRV (node A)                 netns $E2E_NS_VM
#   +------------------------------+           +------------------------------------+
#   | lan0    198.51.100.1/24      |<--veth--->| srvport  --+                       |
#   | hapeer  203.0.113.1/30       |           |            br0 198.51.100.254/24   |
#   +---------|--------------------+           | srvportb --+  + VM taps            |
#             | veth (peer link)               +------------^-----------------------+
#   +---------|--------------------+                        |
#   | hapeer  203.0.113.2/30       |                        |
#   | lan0    198.51.100.2/24      |<--veth-----------------+
#   +------------------------------+
#   netns $E2E_NS_SRV2 (node B)       VIP 198.51.100.10/24: held by the active node itself
#
# The peer link is the pair's dedicated heartbeat and replication path; the LAN is the second.
# Cutting only the peer link: `ip -n $E2E_NS_SRV link set $E2E_PEER_IF down`.
# Prints the settings as shell assignments on stdout (eval-able); logs go to stderr.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lab.conf.sh"
: "${E2E_NS_SRV2:=${E2E_NS_SRV}-b}"       # namespace of the second node (lab-down.sh knows this default)
: "${E2E_UPLINK2_IF:=${E2E_UPLINK_IF}b}"  # its LAN veth's bridge port in E2E_NS_VM
: "${E2E_SRV2_IP:=${E2E_NET}.2}"          # its LAN address (on E2E_SRV_IF, the same name as node A's)
: "${E2E_PEER_IF:=hapeer}"                # the peer link's interface in both server namespaces
: "${E2E_PEER_A:=203.0.113.1}"            # TEST-NET-3, /30: the link holds nothing else
: "${E2E_PEER_B:=203.0.113.2}"
: "${E2E_VIP:=${E2E_NET}.10}"             # outside the pool, not .1, .2 or .254
e2e_need_root
e2e_need_cmd ip
e2e_ns_exists "$E2E_NS_SRV" && e2e_ns_exists "$E2E_NS_VM" || e2e_die "the lab is not up: run lab-up.sh first"
e2e_in "$E2E_NS_VM" ip link show "$E2E_BRIDGE" >/dev/null 2>&1 || e2e_die "bridge $E2E_BRIDGE missing in $E2E_NS_VM: run lab-up.sh first"

made=()
if ! e2e_ns_exists "$E2E_NS_SRV2"; then ip netns add "$E2E_NS_SRV2"; made+=("netns $E2E_NS_SRV2"); fi
e2e_in "$E2E_NS_SRV2" ip link set lo up

# The second node's LAN: a veth to a port of the same bridge as node A's.
if ! e2e_in "$E2E_NS_SRV2" ip link show "$E2E_SRV_IF" >/dev/null 2>&1; then
  e2e_in "$E2E_NS_VM" ip link del "$E2E_UPLINK2_IF" >/dev/null 2>&1 || true
  tmp="e2h$$"
  ip link add "${tmp}a" netns "$E2E_NS_SRV2" type veth peer name "${tmp}b" netns "$E2E_NS_VM"
  e2e_in "$E2E_NS_SRV2" ip link set "${tmp}a" name "$E2E_SRV_IF"
  e2e_in "$E2E_NS_VM" ip link set "${tmp}b" name "$E2E_UPLINK2_IF"
  made+=("veth $E2E_SRV_IF@$E2E_NS_SRV2 <-> $E2E_UPLINK2_IF@$E2E_NS_VM")
fi
e2e_in "$E2E_NS_VM" ip link set "$E2E_UPLINK2_IF" master "$E2E_BRIDGE" up
e2e_in "$E2E_NS_SRV2" ip link set "$E2E_SRV_IF" up
if ! e2e_in "$E2E_NS_SRV2" ip -4 addr show dev "$E2E_SRV_IF" | grep -q "inet $E2E_SRV2_IP/"; then
  e2e_in "$E2E_NS_SRV2" ip addr add "$E2E_SRV2_IP/$E2E_PREFIXLEN" dev "$E2E_SRV_IF"
  made+=("address $E2E_SRV2_IP/$E2E_PREFIXLEN on $E2E_SRV_IF@$E2E_NS_SRV2")
fi
# As lab-up.sh does for node A: broadcast replies need a route when a socket is not device-bound.
e2e_in "$E2E_NS_SRV2" ip route replace default dev "$E2E_SRV_IF"

# The peer link: one veth straight between the two server namespaces.
if ! e2e_in "$E2E_NS_SRV" ip link show "$E2E_PEER_IF" >/dev/null 2>&1 || ! e2e_in "$E2E_NS_SRV2" ip link show "$E2E_PEER_IF" >/dev/null 2>&1; then
  e2e_in "$E2E_NS_SRV" ip link del "$E2E_PEER_IF" >/dev/null 2>&1 || true
  e2e_in "$E2E_NS_SRV2" ip link del "$E2E_PEER_IF" >/dev/null 2>&1 || true
  tmp="e2p$$"
  ip link add "${tmp}a" netns "$E2E_NS_SRV" type veth peer name "${tmp}b" netns "$E2E_NS_SRV2"
  e2e_in "$E2E_NS_SRV" ip link set "${tmp}a" name "$E2E_PEER_IF"
  e2e_in "$E2E_NS_SRV2" ip link set "${tmp}b" name "$E2E_PEER_IF"
  made+=("veth $E2E_PEER_IF@$E2E_NS_SRV <-> $E2E_PEER_IF@$E2E_NS_SRV2")
fi
for side in "$E2E_NS_SRV:$E2E_PEER_A" "$E2E_NS_SRV2:$E2E_PEER_B"; do
  ns=${side%%:*}; addr=${side#*:}
  e2e_in "$ns" ip link set "$E2E_PEER_IF" up
  if ! e2e_in "$ns" ip -4 addr show dev "$E2E_PEER_IF" | grep -q "inet $addr/"; then
    e2e_in "$ns" ip addr add "$addr/30" dev "$E2E_PEER_IF"
    made+=("address $addr/30 on $E2E_PEER_IF@$ns")
  fi
done

if [ ${#made[@]} -eq 0 ]; then e2e_log "HA lab already up (nothing to do)"; else
  for m in "${made[@]}"; do e2e_log "created $m"; done; fi

cat <<ENV
E2E_NS_SRV2=$E2E_NS_SRV2
E2E_SRV2_IF=$E2E_SRV_IF
E2E_SRV2_IP=$E2E_SRV2_IP
E2E_PEER_IF=$E2E_PEER_IF
E2E_PEER_A=$E2E_PEER_A
E2E_PEER_B=$E2E_PEER_B
E2E_VIP=$E2E_VIP
ENV
