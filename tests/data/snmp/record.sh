#!/usr/bin/env bash
# Records switch96.snmprec: net-snmp snmpd in a throw-away network namespace with 96 ifb ports
# (the dummy module is not available here), walked with snmpbulkwalk -On -Ox and converted.
# Run as root from anywhere: bash tests/data/snmp/record.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
ports="${PORTS:-96}"
ns="pantau-rec-$$"
work="$(mktemp -d)"
cleanup() {
  [ -f "$work/pid" ] && kill "$(cat "$work/pid")" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
for i in $(seq 1 "$ports"); do
  ip netns exec "$ns" ip link add "port$i" type ifb
  # every port but each fourth is up, so the recording has both states
  if [ $((i % 4)) -ne 0 ]; then ip netns exec "$ns" ip link set "port$i" up; fi
done
cat >"$work/snmpd.conf" <<CONF
[snmpd] rocommunity public 127.0.0.1
[snmpd] sysName sw-kantor-bupati
[snmpd] sysDescr pantau test switch (net-snmp, $ports ifb ports)
[snmp] persistentDir $work
CONF
ip netns exec "$ns" env MIBS= snmpd -f -Lf "$work/log" -C -c "$work/snmpd.conf" \
  -p "$work/pid" udp:127.0.0.1:16100 &
for _ in $(seq 50); do [ -s "$work/pid" ] && break; sleep 0.1; done
sleep 0.5
for tree in .1.3.6.1.2.1.1 .1.3.6.1.2.1.2 .1.3.6.1.2.1.31; do
  ip netns exec "$ns" env MIBS= SNMP_PERSISTENT_DIR="$work" \
    snmpbulkwalk -v2c -c public -On -Ox 127.0.0.1:16100 "$tree"
done | python3 "$here/walk_to_snmprec.py" >"$here/switch96.snmprec"
wc -l "$here/switch96.snmprec"
