"""A real Prometheus scrapes a real agent process; ``pantau_site_up`` answers as expected."""

from __future__ import annotations

import signal
import socketserver
import threading
import time

import pytest
from agentproc import AgentProcess, free_port, site_states, site_toml, write_config
from promstack import PROMETHEUS_BIN, prometheus_argv, query, run_server

pytestmark = pytest.mark.skipif(
    PROMETHEUS_BIN is None, reason="prometheus not installed (Debian package prometheus)"
)


def test_prometheus_scrapes_site_up(tmp_path):
    service = socketserver.ThreadingTCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler)
    threading.Thread(target=service.serve_forever, daemon=True).start()
    port = free_port()
    config = write_config(
        tmp_path / "agent.toml",
        port,
        [
            site_toml("open", "127.0.0.1", [f"tcp:{service.server_address[1]}"]),
            site_toml("closed", "127.0.0.1", [f"tcp:{free_port()}"]),
            site_toml("undecided", "127.0.0.1", ["http:http://127.0.0.1:1/never"]),
        ],
        kinds={"http": {"interval": 600}},  # the undecided site's one round cannot decide it
    )
    prom_config = tmp_path / "prometheus.yml"
    prom_config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: pantau-agent\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
    )
    try:
        with AgentProcess(config, port) as agent:
            agent.wait_ready()
            agent.wait_for(lambda ev: site_states(ev).get("closed") == "down")
            with run_server(
                "prometheus", prometheus_argv(prom_config, tmp_path / "tsdb"), tmp_path
            ) as prom:
                deadline = time.monotonic() + 30
                series: list[dict] = []
                while time.monotonic() < deadline:
                    series = query(prom, "pantau_site_up")
                    if len(series) >= 2:
                        break
                    time.sleep(0.5)
                by_site = {s["metric"]["site"]: s for s in series}
                assert set(by_site) == {"open", "closed"}  # "undecided" is unknown: absent
                assert by_site["open"]["value"][1] == "1"
                assert by_site["closed"]["value"][1] == "0"
                labels = by_site["open"]["metric"]
                assert labels["instance"] == f"127.0.0.1:{port}"
                assert labels["job"] == "pantau-agent" and "agent" not in labels
                up = query(prom, 'up{job="pantau-agent"}')
                assert up and up[0]["value"][1] == "1"
                info = query(prom, 'pantau_site_info{site="open"}')
                assert info[0]["metric"]["lat"] == "-1.25"
            assert agent.stop(signal.SIGTERM) == 0
    finally:
        service.shutdown()
        service.server_close()
