"""``pantau probe snmp``: poll devices once, as the agent would, and print one JSON line each."""

from __future__ import annotations

import argparse
import sys

TYPE_CHECKING = False  # typing is not imported at run time: `pantau probe icmp` starts faster
if TYPE_CHECKING:
    from typing import Any

SNMP_EPILOG = """\
Credentials: --config FILE --profile NAME uses a profile of the config (v2c or v3, secrets from
the environment variables it names); otherwise --community-env VAR (or --community, for labs)
polls with SNMP v2c.
Output: one JSON object per line and target, in the order given:
  {"target": "127.0.0.1", "ok": true, "reason": "ok", "duration_s": 0.012, "pdus": 4,
   "sysname": "sw-1", "sysdescr": "...", "uptime_s": 1234.5, "interfaces": 49,
   "interfaces_up": 12, "down": [], "message": ""}
reason is ok, timeout, refused, auth, dns, snmp_error or if_down (a watched interface is down).
Exit status: 0 every target ok, 1 some were not, 2 bad arguments or config.
"""


def add_snmp(kinds: Any) -> None:
    """``pantau probe snmp``: one poll of each target (sysUpTime, system, IF-MIB)."""
    p = kinds.add_parser(
        "snmp",
        help="poll SNMP devices once (sysUpTime, sysName, IF-MIB)",
        epilog=SNMP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("targets", nargs="+", metavar="TARGET", help="IPv4/IPv6 address or host name")
    p.add_argument("--config", help="config file whose [snmp.profiles] to use")
    p.add_argument("--profile", help="profile name in --config")
    p.add_argument("--community-env", help="environment variable holding the v2c community")
    p.add_argument("--community", help="literal v2c community (labs only: visible in ps)")
    p.add_argument("--port", type=int, default=161)
    p.add_argument("--timeout", type=float, default=2.0, help="seconds per request (default 2)")
    p.add_argument("--retries", type=int, default=1)
    p.add_argument("--max-repetitions", type=int, default=25)
    p.add_argument("--interface", action="append", default=[], help="watch this ifName/ifIndex")
    p.set_defaults(func=_snmp)


def _config(args: argparse.Namespace) -> tuple[Any, str]:
    from pydantic import ValidationError

    from pantau.config import Config, load_config
    from pantau.errors import ConfigError

    if args.config:
        config = load_config(args.config)
        if not args.profile or args.profile not in config.snmp.profiles:
            known = ", ".join(config.snmp.profiles) or "none"
            raise ConfigError(f"{args.config}: --profile must name one of: {known}")
        return config, args.profile
    if not (args.community or args.community_env):
        raise ConfigError(
            "pantau probe snmp: give --community-env VAR (or --community, for labs), "
            "or --config FILE --profile NAME"
        )
    profile = {
        "version": "2c",
        "community": args.community,
        "community_env": args.community_env,
        "port": args.port,
        "timeout": args.timeout,
        "retries": args.retries,
        "max_repetitions": args.max_repetitions,
        "interfaces": args.interface,
    }
    try:
        return Config.model_validate({"snmp": {"profiles": {"cli": profile}}}), "cli"
    except ValidationError as exc:
        problems = [f"pantau probe snmp: {e['msg']} (got {e['input']!r})" for e in exc.errors()]
        raise ConfigError(problems) from None


def _row(target: str, result: Any) -> dict[str, Any]:
    snap = result.data
    row: dict[str, Any] = {"target": target, "ok": result.ok, "reason": result.reason}
    row["duration_s"] = round(result.duration, 6)
    if snap is not None:
        ifaces = snap.interfaces.values()
        row |= {
            "pdus": snap.pdus,
            "sysname": snap.sys_name,
            "sysdescr": snap.sys_descr,
            "uptime_s": snap.uptime_ticks / 100.0,
            "interfaces": len(snap.interfaces),
            "interfaces_up": sum(i.oper == 1 for i in ifaces),
        }
    row["down"] = (
        result.message.removeprefix("not up: ").split(", ") if result.reason == "if_down" else []
    )
    row["message"] = result.message
    return row


def _snmp(args: argparse.Namespace) -> int:
    # Imported here: `pantau probe icmp` registers this command too, and must not load asyncio.
    import asyncio
    import json

    from pantau.agent.probes import ProbeContext, ProbeJob
    from pantau.agent.probes.snmp import make_prober

    config, name = _config(args)
    settings = config.agent.snmp
    jobs = [ProbeJob(t, f"snmp:{name}", name, t) for t in dict.fromkeys(args.targets)]

    async def run() -> dict[tuple[str, str], Any]:
        prober = make_prober(
            settings, ProbeContext(config, asyncio.Semaphore(settings.max_in_flight))
        )
        try:
            return await prober.run(jobs)
        finally:
            await prober.aclose()

    results = asyncio.run(run())
    rows = [_row(job.site, results[job.key]) for job in jobs]
    sys.stdout.write("".join(json.dumps(r) + "\n" for r in rows))
    return 0 if all(r["ok"] for r in rows) else 1
