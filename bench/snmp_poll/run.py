"""bench/snmp_poll: one SNMP device poll repeated by pantau, net-snmp and snmp_exporter.

The poll: sysUpTime.0 plus 11 IF-MIB columns (ifAdminStatus, ifOperStatus, ifIn/OutDiscards,
ifIn/OutErrors, ifName, ifHCIn/OutOctets, ifHighSpeed, ifAlias) of every interface. The device
is net-snmp ``snmpd`` in a network namespace this script creates, with ``--ports`` ifb
interfaces (snmpsim costs ~9 ms CPU per request, so it would be the bottleneck). Only the
poller's CPU is counted: pantau in process (poll + Prometheus text exposition), snmp_exporter from
/proc/PID/stat around the scrapes, snmpbulkwalk/snmpget from the children's rusage.

Run as root from the repository: ``python3 bench/snmp_poll/run.py [--ports 48] [--polls 200]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from snmp_peers import Snmpd, free_udp_port  # noqa: E402

COLUMNS = {
    "ifAdminStatus": "1.3.6.1.2.1.2.2.1.7",
    "ifOperStatus": "1.3.6.1.2.1.2.2.1.8",
    "ifInDiscards": "1.3.6.1.2.1.2.2.1.13",
    "ifInErrors": "1.3.6.1.2.1.2.2.1.14",
    "ifOutDiscards": "1.3.6.1.2.1.2.2.1.19",
    "ifOutErrors": "1.3.6.1.2.1.2.2.1.20",
    "ifName": "1.3.6.1.2.1.31.1.1.1.1",
    "ifHCInOctets": "1.3.6.1.2.1.31.1.1.1.6",
    "ifHCOutOctets": "1.3.6.1.2.1.31.1.1.1.10",
    "ifHighSpeed": "1.3.6.1.2.1.31.1.1.1.15",
    "ifAlias": "1.3.6.1.2.1.31.1.1.1.18",
}
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
READ: list[str] = []  # the health OIDs pantau read in steady state (instances or columns)
#: The health columns pantau reads from snmpd (issue 16, health "auto"): net-snmp answers
#: HOST-RESOURCES-MIB (CPU, RAM rows of hrStorage); the standard tables it lacks (UPS-MIB,
#: ENTITY-SENSOR-MIB) and the vendor tables its sysObjectID matches are read at the first (full)
#: poll only. Between full polls pantau reads the kept rows of these tables (the processors, the
#: RAM row) by GET; snmp_exporter's module is given exactly the OIDs pantau reads in steady state
#: (its `get` list).
HEALTH_COLUMNS = {
    "hrProcessorLoad": "1.3.6.1.2.1.25.3.3.1.2",
    "hrStorageType": "1.3.6.1.2.1.25.2.3.1.2",
    "hrStorageDescr": "1.3.6.1.2.1.25.2.3.1.3",
    "hrStorageSize": "1.3.6.1.2.1.25.2.3.1.5",
    "hrStorageUsed": "1.3.6.1.2.1.25.2.3.1.6",
}
TICK = os.sysconf("SC_CLK_TCK")
ENV = {**os.environ, "MIBS": "", "SNMP_PERSISTENT_DIR": tempfile.gettempdir()}
AUTH_KEY, PRIV_KEY = "bench-auth-key", "bench-priv-key"
V3_SNMPD = [
    f"[snmpd] createUser bench SHA-256 {AUTH_KEY} AES {PRIV_KEY}",
    "[snmpd] rouser bench priv",
]
V3_NETSNMP = ["-v3", "-l", "authPriv", "-u", "bench", "-a", "SHA-256", "-A", AUTH_KEY]
V3_NETSNMP += ["-x", "AES", "-X", PRIV_KEY]
V3_PANTAU = {
    "version": "3",
    "user": "bench",
    "auth_protocol": "SHA-256",
    "auth_key_env": "BENCH_AUTH_KEY",
    "priv_protocol": "AES-128",
    "priv_key_env": "BENCH_PRIV_KEY",
}
V3_EXPORTER = (
    "    security_level: authPriv\n    username: bench\n    auth_protocol: SHA256\n"
    f"    password: {AUTH_KEY}\n    priv_protocol: AES\n    priv_password: {PRIV_KEY}\n"
)


def _outside(args: argparse.Namespace) -> int:
    if os.geteuid() != 0:
        print("run as root: the bench creates a network namespace with ifb interfaces")
        return 2
    ns = f"pantau-bench-snmp-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        batch = ["link set lo up"] + [
            f"link add port{i} type ifb" for i in range(1, args.ports + 1)
        ]
        batch += [f"link set port{i} up" for i in range(1, args.ports + 1)]
        subprocess.run(["ip", "-n", ns, "-batch", "-"], input="\n".join(batch).encode(), check=True)
        argv = [sys.executable, __file__, "--inside", f"--load={args.load}", *sys.argv[1:]]
        return subprocess.run(["ip", "netns", "exec", ns, *argv]).returncode
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


async def _pantau_polls(
    port: int, polls: int, max_rep: int, v3: bool, health: bool
) -> tuple[float, float, int]:
    from pantau.agent.probes import ProbeContext, ProbeJob
    from pantau.agent.probes.snmp import make_prober
    from pantau.agent.runtime.exposition import render
    from pantau.config import Config, SnmpSettings

    profile = {"community": "public", "port": port, "max_repetitions": max_rep, "timeout": 2.0}
    if v3:
        os.environ.update(BENCH_AUTH_KEY=AUTH_KEY, BENCH_PRIV_KEY=PRIV_KEY)
        profile = {**V3_PANTAU, "port": port, "max_repetitions": max_rep, "timeout": 2.0}
    profile["health"] = ["auto"] if health else []
    config = Config.model_validate({"snmp": {"profiles": {"bench": profile}}})
    prober = make_prober(SnmpSettings(), ProbeContext(config, asyncio.Semaphore(64)))
    job = ProbeJob("bench", "snmp:bench", "bench", "127.0.0.1")
    first = (await prober.run([job]))[job.key]
    assert first.ok, first.message
    steady = (await prober.run([job]))[job.key]  # the health tables snmpd answered, from now on
    read = sorted(".".join(map(str, c)) for c in steady.data.health)
    assert all(any(o.startswith(c) for c in HEALTH_COLUMNS.values()) for o in read), read
    assert bool(read) == health, read
    READ.clear()
    READ.extend(read)
    health_values = sum(len(v) for v in steady.data.health.values())
    cpu, wall, expose = time.process_time(), time.perf_counter(), 0.0
    for _ in range(polls):
        result = (await prober.run([job]))[job.key]
        assert result.ok, result.message
        before = time.process_time()
        render(prober.families()).encode()
        expose += time.process_time() - before
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(
        f"pantau: of {cpu / polls * 1000:.2f} ms CPU per poll, {expose / polls * 1000:.2f} ms is "
        "the Prometheus text exposition (pantau.agent.runtime.exposition, as /metrics writes it)"
    )
    await prober.aclose()
    fields = ("admin", "oper", "in_discards", "in_errors", "out_discards", "out_errors", "name")
    fields += ("in_octets", "out_octets", "high_speed", "alias")
    values = 1 + health_values
    values += sum(getattr(i, f) is not None for i in first.data.interfaces.values() for f in fields)
    return cpu, wall, values


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _netsnmp_polls(port: int, polls: int, max_rep: int, v3: bool) -> tuple[float, float, int]:
    target = f"127.0.0.1:{port}"
    base = [*(V3_NETSNMP if v3 else ["-v2c", "-c", "public"]), "-On", "-t", "2", "-r", "0"]
    cpu, wall = _children_cpu(), time.perf_counter()
    lines = 0
    for _ in range(polls):
        out = subprocess.run(["snmpget", *base, target, SYS_UPTIME], env=ENV, capture_output=True)
        lines = out.stdout.count(b"\n")
        for oid in COLUMNS.values():
            cmd = ["snmpbulkwalk", *base, f"-Cr{max_rep}", target, oid]
            out = subprocess.run(cmd, env=ENV, capture_output=True, check=True)
            lines += out.stdout.count(b"\n")
    return _children_cpu() - cpu, time.perf_counter() - wall, lines


def _exporter_yaml(max_rep: int, v3: bool, health: bool) -> str:
    lookups = "\n".join(
        f"      - labels: [ifIndex]\n        labelname: {name}\n"
        f"        oid: {COLUMNS[name]}\n        type: DisplayString"
        for name in ("ifName", "ifAlias")
    )
    metrics = [f"    - name: sysUpTime\n      oid: {SYS_UPTIME[:-2]}\n      type: gauge"]
    for name, oid in COLUMNS.items():
        if name in ("ifName", "ifAlias"):
            continue
        kind = "counter" if "Octets" in name or "Err" in name or "Disc" in name else "gauge"
        metrics.append(
            f"    - name: {name}\n      oid: {oid}\n      type: {kind}\n"
            f"      indexes:\n      - labelname: ifIndex\n        type: gauge\n"
            f"      lookups:\n{lookups}"
        )
    walked, gets = list(COLUMNS.values()), [SYS_UPTIME]
    if health:  # the same HOST-RESOURCES OIDs pantau reads: instances by GET, columns walked
        gets += [o for o in READ if o not in HEALTH_COLUMNS.values()]
        walked += [o for o in READ if o in HEALTH_COLUMNS.values()]
        for name, oid in HEALTH_COLUMNS.items():
            kind = "DisplayString" if name == "hrStorageDescr" else "gauge"
            kind = "OctetString" if name == "hrStorageType" else kind
            index = "hrDeviceIndex" if name == "hrProcessorLoad" else "hrStorageIndex"
            metrics.append(
                f"    - name: {name}\n      oid: {oid}\n      type: {kind}\n"
                f"      indexes:\n      - labelname: {index}\n        type: gauge"
            )
    walk = "\n".join(f"    - {oid}" for oid in walked)
    # snmp_exporter 0.21 format: modules at the top level, auth inside each (FIELD-NOTES)
    return (
        f"pantau_bench:\n  version: {3 if v3 else 2}\n  max_repetitions: {max_rep}\n  retries: 0\n"
        f"  timeout: 2s\n  auth:\n{V3_EXPORTER if v3 else '    community: public'}\n"
        "  get:\n"
        + "".join(f"    - {o}\n" for o in gets)
        + f"  walk:\n{walk}\n  metrics:\n"
        + "\n".join(metrics)
        + "\n"
    )


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _exporter_polls(
    port: int, polls: int, max_rep: int, v3: bool, health: bool, work: Path
) -> tuple[float, float, int]:
    conf = work / "snmp.yml"
    conf.write_text(_exporter_yaml(max_rep, v3, health))
    listen = f"127.0.0.1:{free_udp_port()}"
    cmd = ["prometheus-snmp-exporter", f"--config.file={conf}", f"--web.listen-address={listen}"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=(work / "exporter.log").open("wb")
    )
    url = f"http://{listen}/snmp?module=pantau_bench&target=127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                body = urllib.request.urlopen(url, timeout=5).read()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"snmp_exporter did not answer; see {work / 'exporter.log'}")
        samples = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
        cpu, wall = _proc_cpu(proc.pid), time.perf_counter()
        for _ in range(polls):
            urllib.request.urlopen(url, timeout=10).read()
        return _proc_cpu(proc.pid) - cpu, time.perf_counter() - wall, samples
    finally:
        proc.terminate()
        proc.wait(10)


def _wait_processor_load(port: int) -> None:
    """snmpd answers hrProcessorLoad once it has a minute of load samples: wait for it, so that
    pantau's first (full) poll finds the table it then reads on every poll."""
    cmd = ["snmpbulkwalk", "-v2c", "-c", "public", "-On", "-t", "1", "-r", "0"]
    cmd += [f"127.0.0.1:{port}", HEALTH_COLUMNS["hrProcessorLoad"]]
    for _ in range(90):
        if b"INTEGER" in subprocess.run(cmd, env=ENV, capture_output=True).stdout:
            return
        time.sleep(1)
    raise RuntimeError("snmpd did not answer hrProcessorLoad within 90 s")


def _inside(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix=f"pantau-bench-snmp-{os.getpid()}-"))
    port = free_udp_port()
    lines = ["[snmpd] rocommunity public 127.0.0.1", *(V3_SNMPD if args.v3 else [])]
    daemon = Snmpd(work, port, lines)
    rep, v3, health = args.max_repetitions, args.v3, not args.no_health
    rows = []
    try:
        daemon.start()
        if health:
            _wait_processor_load(port)
        for name, run, polls in (
            ("pantau", lambda n: asyncio.run(_pantau_polls(port, n, rep, v3, health)), args.polls),
            (
                "snmp_exporter",
                lambda n: _exporter_polls(port, n, rep, v3, health, work),
                args.polls,
            ),
            ("snmpbulkwalk", lambda n: _netsnmp_polls(port, n, rep, v3), args.netsnmp_polls),
        ):
            cpu, wall, size = run(polls)
            rows.append((name, polls, wall, cpu, size))
    finally:
        daemon.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"load before/after: {args.load} / {Path('/proc/loadavg').read_text().split()[:3]}")
    print(
        f"device: snmpd, {args.ports} ifb ports + lo; poll = sysUpTime + {len(COLUMNS)} columns"
        f"{f' + {len(HEALTH_COLUMNS)} HOST-RESOURCES columns (health auto)' if health else ''}; "
        f"max-repetitions {rep}; SNMP {'v3 authPriv SHA-256/AES-128' if v3 else 'v2c'}"
    )
    print(
        f"{'poller':<14}{'polls':>6}{'polls/s':>10}{'CPU s/100 polls':>17}{'polls/CPU-s':>13}  size"
    )
    per_cpu = {}
    for name, polls, wall, cpu, size in rows:
        per_cpu[name] = polls / cpu if cpu else float("inf")
        print(
            f"{name:<14}{polls:>6}{polls / wall:>10.1f}{cpu / polls * 100:>17.3f}"
            f"{per_cpu[name]:>13.1f}  {size}"
        )
    print("size: values per poll (pantau, snmpbulkwalk) or samples in one scrape (snmp_exporter)")
    for other in ("snmp_exporter", "snmpbulkwalk"):
        print(f"pantau / {other} polls per CPU-second: {per_cpu['pantau'] / per_cpu[other]:.2f}")
    need = 1000 / 60 / per_cpu["pantau"]
    print(
        f"1,000 devices every 60 s: {need:.2f} of one core for pantau's polling "
        f"({'fits' if need < 1 else 'does NOT fit'})"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", type=int, default=48, help="ifb interfaces on the device")
    parser.add_argument("--polls", type=int, default=200, help="polls for pantau and exporter")
    parser.add_argument("--netsnmp-polls", type=int, default=20, help="polls for snmpbulkwalk")
    parser.add_argument("--max-repetitions", type=int, default=25)
    parser.add_argument("--v3", action="store_true", help="SNMPv3 authPriv instead of v2c")
    parser.add_argument(
        "--no-health", action="store_true", help="profile health = [] (interfaces only)"
    )
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--load",
        default=" ".join(Path("/proc/loadavg").read_text().split()[:3]),
        help=argparse.SUPPRESS,
    )
    args = parser.parse_args()
    return _inside(args) if args.inside else _outside(args)


if __name__ == "__main__":
    sys.exit(main())
