"""End to end: an office's link is cut in a namespace lab, and the on-call webhook hears about it.

Chain under test, all real processes: pantau agent (root namespace, probing a lab host through a
veth) -> Prometheus (Debian, the shipped rules with ``for:`` cut to seconds) -> Alertmanager
(Debian, the shipped alertmanager.yml with its webhooks pointed at a receiver this test runs on
loopback) -> webhook. Cutting the office's uplink must deliver PantauOfficeWithoutInternet to the
pager route within the expected time; restoring it must deliver the resolution. Before that, 30%
loss on a hotspot's path must reach the district's channel as a loss alert without paging; after,
the router dying must alert once for the router and not page for the office behind it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from dashboard_exprs import DASHBOARDS
from livestack import fast_rules, have, pantau_process, prometheus, prometheus_config, wait_for
from promstack import ALERTMANAGER_BIN, PROMETHEUS_BIN, alertmanager_argv, free_port, run_server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.root,
    pytest.mark.skipif(
        PROMETHEUS_BIN is None or ALERTMANAGER_BIN is None,
        reason="prometheus/alertmanager not installed (Debian packages; .ci/install-deps)",
    ),
    pytest.mark.skipif(not have("agent.runtime"), reason="pantau agent not in this build yet"),
    pytest.mark.skipif(not have("lab.netns"), reason="pantau.lab.netns not in this build yet"),
]

#: Worst case from cut to page: agent down_after (2 rounds of 1 s, ICMP timeout 0.5 s) + scrape
#: (1 s) + rule evaluation (1 s, twice: recording then alert) + `for:` (3 s) + Alertmanager
#: group_wait (1 s) + delivery, with slack for a loaded 2-core machine.
PAGE_WITHIN = 30.0
RESOLVE_WITHIN = 30.0


class Webhook:
    """A webhook receiver on loopback that records (time, path, payload) of every POST."""

    def __init__(self) -> None:
        self.received: list[tuple[float, str, dict]] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with outer._lock:
                    outer.received.append((time.monotonic(), self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:  # keep pytest output clean
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, match: Callable[[str, dict], bool], since: float, timeout: float) -> float:
        """Seconds from ``since`` to the first POST after it that ``match``es."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for at, path, payload in self.received:
                    if at >= since and match(path, payload):
                        return at - since
            time.sleep(0.1)
        with self._lock:
            seen = [
                (p, d["status"], [a["labels"]["alertname"] for a in d["alerts"]])
                for _, p, d in self.received
            ]
        raise AssertionError(f"no matching notification in {timeout} s; received {seen}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    try:
        yield hook
    finally:
        hook.close()


def _alertmanager_config(tmp: Path, webhook_port: int) -> Path:
    """The shipped example, its webhooks pointed at the test receiver and its waits shortened."""
    data = yaml.safe_load((DASHBOARDS / "alertmanager" / "alertmanager.yml").read_text())
    for receiver in data["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = hook["url"].replace("127.0.0.1:9099", f"127.0.0.1:{webhook_port}")

    def shorten(route: dict) -> None:
        route.update({k: "1s" for k in ("group_wait", "group_interval") if k in route})
        for child in route.get("routes", []):
            shorten(child)

    data["route"].update(group_wait="1s", group_interval="1s")
    shorten(data["route"])
    out = tmp / "alertmanager.yml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


AGENT = """
[agent]
name = "agent-e2e"
listen = "127.0.0.1:{agent_port}"
state_dir = "{tmp}/agent-state"
canaries = ["127.0.0.1"]
down_after = 2
up_after = 1
traceroute = false

[agent.icmp]
interval = 1
timeout = 0.5
count = 3

[[sites]]
id = "core-lab"
name = "Router inti lab"
kind = "router"
lat = -1.2379
lon = 116.8529
address = "{core}"
probes = ["icmp"]
district = "64.71.04.1001"

[[sites]]
id = "kantor-lab"
name = "Kantor Lurah Lab"
kind = "office"
lat = -1.2765
lon = 116.8280
address = "{office}"
probes = ["icmp"]
parent = "core-lab"
district = "64.71.04.1002"

[[sites]]
id = "hotspot-lab"
name = "Wi-Fi Taman Lab"
kind = "hotspot"
lat = -1.2700
lon = 116.8300
address = "{hotspot}"
probes = ["icmp"]
parent = "core-lab"
district = "64.71.04.1003"
"""


def _office_alert(status: str) -> Callable[[str, dict], bool]:
    def match(path: str, payload: dict) -> bool:
        return (
            path == "/pantau/pager"
            and payload["status"] == status
            and any(
                a["labels"]["alertname"] == "PantauOfficeWithoutInternet"
                and a["labels"]["site"] == "kantor-lab"
                and a["status"] == status
                for a in payload["alerts"]
            )
        )

    return match


def test_office_cut_pages_and_restore_resolves(
    lab_factory: Callable[..., object], webhook: Webhook, tmp_path: Path
) -> None:
    lab = lab_factory(tree={"core": None, "office1": "core", "hotspot1": "core"})
    core = lab.attach_root("core")
    office = lab.address("office1")
    agent_port = free_port()
    config = tmp_path / "pantau.toml"
    config.write_text(
        AGENT.format(
            agent_port=agent_port,
            tmp=tmp_path,
            core=core,
            office=office,
            hotspot=lab.address("hotspot1"),
        )
    )
    am_config = _alertmanager_config(tmp_path, webhook.port)

    with (
        run_server("alertmanager", alertmanager_argv(am_config, tmp_path / "am"), tmp_path) as am,
        pantau_process("agent", config, tmp_path, f"http://127.0.0.1:{agent_port}"),
    ):
        prom_config = prometheus_config(
            tmp_path / "prometheus.yml",
            fast_rules(tmp_path),
            agents=[f"127.0.0.1:{agent_port}"],
            collectors=[],
            alertmanager=f"127.0.0.1:{am.port}",
        )
        with prometheus(tmp_path, prom_config) as prom:
            assert wait_for(prom, 'site:pantau_site_up:max_connected{site="kantor-lab"} == 1', 30)
            assert wait_for(prom, 'site:pantau_site_up:max_connected{site="core-lab"} == 1', 30)
            assert wait_for(prom, 'site:pantau_site_up:max_connected{site="hotspot-lab"} == 1', 30)

            # 30% loss on the hotspot's path: the loss alert reaches the district's channel, and
            # the hotspot stays up (3 echoes a round, down only after 2 rounds all lost). The
            # impairment stays on: clearing it is not needed and re-plumbs the link.
            lossy_at = time.monotonic()
            lab.netem("hotspot1", loss=0.3)
            loss_after = webhook.wait(
                _district_alert("PantauHighPacketLoss"), lossy_at, PAGE_WITHIN
            )
            assert not [p for _, p, _ in webhook.received if p == "/pantau/pager"]

            cut_at = time.monotonic()
            lab.cut("office1")
            paged_after = webhook.wait(_office_alert("firing"), cut_at, PAGE_WITHIN)

            # The page names the office, its district and a link to its dashboard.
            [(_, _, payload)] = [r for r in webhook.received if _office_alert("firing")(*r[1:])][:1]
            [alert] = [a for a in payload["alerts"] if a["labels"]["site"] == "kantor-lab"]
            assert alert["labels"]["district"] == "64.71.04.1002"
            assert alert["labels"]["severity"] == "critical"
            assert alert["annotations"]["dashboard"] == (
                "http://grafana.test/d/pantau-site/pantau-site?var-site=kantor-lab"
            )
            assert "tanpa internet" in alert["annotations"]["summary"]
            # The router is still up: nothing else paged.
            pages = {
                a["labels"]["alertname"]
                for _, p, d in webhook.received
                if p == "/pantau/pager"
                for a in d["alerts"]
            }
            assert pages == {"PantauOfficeWithoutInternet"}

            restored_at = time.monotonic()
            lab.restore("office1")
            resolved_after = webhook.wait(_office_alert("resolved"), restored_at, RESOLVE_WITHIN)

            # The router dies: the office behind it is unreachable. The router's alert reaches
            # its district's channel; the office does not page.
            killed_at = time.monotonic()
            lab.kill("core")
            router_after = webhook.wait(_site_down("core-lab"), killed_at, PAGE_WITHIN)
            assert wait_for(prom, 'ALERTS{alertname="PantauSiteUnreachable",site="kantor-lab"}', 10)
            time.sleep(5)  # longer than `for:` plus group_wait: a page would have come by now
            with pytest.raises(AssertionError, match="no matching notification"):
                webhook.wait(_office_alert("firing"), killed_at, 0.1)
            behind = {
                a["labels"]["site"]
                for at, _, d in webhook.received
                if at >= killed_at
                for a in d["alerts"]
                if a["status"] == "firing" and a["labels"]["alertname"] == "PantauSiteDown"
            }
            assert behind == {"core-lab"}  # the sites behind it are unreachable, not down
    print(
        f"loss alert {loss_after:.1f} s after 30% loss began; "
        f"paged {paged_after:.1f} s after the cut; resolved {resolved_after:.1f} s after "
        f"restore; router alert {router_after:.1f} s after the router died, office silent"
    )


def _district_alert(alertname: str) -> Callable[[str, dict], bool]:
    def match(path: str, payload: dict) -> bool:
        return path == "/pantau/kecamatan/64.71.04" and any(
            a["labels"]["alertname"] == alertname
            and a["labels"]["site"] == "hotspot-lab"
            and a["status"] == "firing"
            for a in payload["alerts"]
        )

    return match


def _site_down(site: str) -> Callable[[str, dict], bool]:
    def match(path: str, payload: dict) -> bool:
        return path == "/pantau/kecamatan/64.71.04" and any(
            a["labels"]["alertname"] == "PantauSiteDown"
            and a["labels"]["site"] == site
            and a["status"] == "firing"
            for a in payload["alerts"]
        )

    return match
