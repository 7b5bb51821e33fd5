"""End to end: links are cut in a namespace lab, and people hear about it by e-mail and Telegram.

Chain under test, all real processes: pantau agent (root namespace, probing lab hosts through a
veth) -> Prometheus (Debian, the shipped rules with ``for:`` cut to seconds) -> Alertmanager
(Debian, the shipped alertmanager.yml and templates, secrets filled from files by
``pantau alertmanager-config``) -> a real SMTP server on loopback (aiosmtpd) and the Telegram Bot
API stand-in of ``notify_peers`` (Telegram's servers cannot run here). Only the waits and the
addresses of the mail server and Telegram are changed for the test.

* An office's link is cut: the on-call team is paged (e-mail and Telegram, in Indonesian); the
  restore sends the resolution. Before that, 30% loss on a hotspot's path reaches the district's
  Telegram chat without paging.
* A core router with five offices behind it is cut off: exactly one e-mail and one Telegram
  message to the on-call team, naming the router and "5 kantor", none per office; its recovery
  sends one resolved message each, with the total duration.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dashboard_exprs import DASHBOARDS
from livestack import fast_rules, have, pantau_process, prometheus, prometheus_config, wait_for
from notify_peers import (
    Mail,
    SmtpSink,
    TelegramStandIn,
    alertmanager_test_config,
    telegram_html_errors,
    wait_until,
)
from promstack import (
    ALERTMANAGER_BIN,
    PROMETHEUS_BIN,
    Server,
    alertmanager_argv,
    free_port,
    run_server,
)

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
#: Chats of the shipped config: the on-call group and the Balikpapan Tengah team (64.71.04).
PIKET_CHAT, TENGAH_CHAT = -1001000000001, -1001000006404
PIKET_MAIL = "piket-jaringan@pemkot.example"
TOKEN = "987654321:AAE2e-test-token"
SMTP_USER, SMTP_PASSWORD = "pantau@pemkot.example", "sandi-e2e"


class Inbox:
    """The SMTP sink and the Telegram stand-in, and what reached the on-call team."""

    def __init__(self, smtp: SmtpSink, telegram: TelegramStandIn) -> None:
        self.smtp, self.telegram = smtp, telegram

    def mails(self, since: float = 0.0) -> list[Mail]:
        return [m for m in self.smtp.received() if m.at >= since and PIKET_MAIL in m.rcpt]

    def chat(self, chat_id: int, since: float = 0.0) -> list[str]:
        """Texts as Telegram shows them (entities parsed) sent to ``chat_id`` since ``since``."""
        return [
            telegram_html_errors(r.params["text"])[1]
            for r in self.telegram.messages(chat_id)
            if r.at >= since
        ]

    def wait_mail(self, match: Callable[[Mail], bool], since: float, timeout: float) -> float:
        found = wait_until(
            lambda: [m for m in self.mails(since) if match(m)],
            timeout,
            what="the e-mail to the on-call team",
        )
        return found[0].at - since

    def wait_chat(
        self, chat_id: int, match: Callable[[str], bool], since: float, timeout: float
    ) -> float:
        wait_until(
            lambda: [t for t in self.chat(chat_id, since) if match(t)],
            timeout,
            what=f"the Telegram message to chat {chat_id}",
        )
        return time.monotonic() - since


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    smtp = SmtpSink(SMTP_USER, SMTP_PASSWORD)
    smtp.start()
    telegram = TelegramStandIn(TOKEN)
    try:
        yield Inbox(smtp, telegram)
    finally:
        telegram.close()
        smtp.stop()


def _alertmanager_config(tmp: Path, inbox: Inbox) -> Path:
    secrets = tmp / "secrets"
    secrets.mkdir(mode=0o700)
    (secrets / "smtp-password").write_text(SMTP_PASSWORD)
    (secrets / "telegram-bot-token").write_text(TOKEN + "\n")
    return alertmanager_test_config(
        DASHBOARDS / "alertmanager" / "alertmanager.yml",
        tmp,
        inbox.smtp,
        secrets / "smtp-password",
        inbox.telegram,
        secrets / "telegram-bot-token",
    )


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
"""

SITE = """
[[sites]]
id = "{id}"
name = "{name}"
kind = "{kind}"
lat = -1.2379
lon = 116.8529
address = "{address}"
probes = ["icmp"]
district = "{district}"
{parent}
"""


def _config(tmp: Path, agent_port: int, sites: list[dict[str, str]]) -> Path:
    text = AGENT.format(agent_port=agent_port, tmp=tmp)
    for site in sites:
        parent = f'parent = "{site["parent"]}"' if site.get("parent") else ""
        text += SITE.format(**{**site, "parent": parent})
    path = tmp / "pantau.toml"
    path.write_text(text)
    return path


@contextlib.contextmanager
def _stack(tmp: Path, inbox: Inbox, config: Path, agent_port: int) -> Iterator[Server]:
    """Alertmanager, the agent and Prometheus running; yields Prometheus."""
    am_config = _alertmanager_config(tmp, inbox)
    with (
        run_server("alertmanager", alertmanager_argv(am_config, tmp / "am"), tmp) as am,
        pantau_process("agent", config, tmp, f"http://127.0.0.1:{agent_port}"),
    ):
        prom_config = prometheus_config(
            tmp / "prometheus.yml",
            fast_rules(tmp),
            agents=[f"127.0.0.1:{agent_port}"],
            collectors=[],
            alertmanager=f"127.0.0.1:{am.port}",
        )
        with prometheus(tmp, prom_config) as prom:
            yield prom
    log = (tmp / "alertmanager.log").read_text()
    assert TOKEN not in log and SMTP_PASSWORD not in log


def test_office_cut_pages_and_restore_resolves(
    lab_factory: Callable[..., object], inbox: Inbox, tmp_path: Path
) -> None:
    lab = lab_factory(tree={"core": None, "office1": "core", "hotspot1": "core"})
    agent_port = free_port()
    config = _config(
        tmp_path,
        agent_port,
        [
            dict(id="core-lab", name="Router inti lab", kind="router",
                 address=lab.attach_root("core"), district="64.71.04.1001"),
            dict(id="kantor-lab", name="Kantor Lurah Lab", kind="office",
                 address=lab.address("office1"), district="64.71.04.1002", parent="core-lab"),
            dict(id="hotspot-lab", name="Wi-Fi Taman Lab", kind="hotspot",
                 address=lab.address("hotspot1"), district="64.71.04.1003", parent="core-lab"),
        ],
    )  # fmt: skip
    with _stack(tmp_path, inbox, config, agent_port) as prom:
        for site in ("kantor-lab", "core-lab", "hotspot-lab"):
            assert wait_for(prom, f'site:pantau_site_up:max_connected{{site="{site}"}} == 1', 30)

        # 30% loss on the hotspot's path: the loss warning reaches the district's Telegram chat,
        # and nobody is paged (3 echoes a round, down only after 2 rounds all lost). The
        # impairment stays on: clearing it is not needed and re-plumbs the link.
        lossy_at = time.monotonic()
        lab.netem("hotspot1", loss=0.3)
        loss_after = inbox.wait_chat(
            TENGAH_CHAT, lambda t: "Packet loss tinggi ke Wi-Fi Taman Lab" in t, lossy_at, 60
        )
        assert not inbox.mails() and not inbox.chat(PIKET_CHAT)

        cut_at = time.monotonic()
        lab.cut("office1")
        paged_after = inbox.wait_mail(
            lambda m: m.subject == "[GANGGUAN] Kantor Lurah Lab tanpa internet",
            cut_at,
            PAGE_WITHIN,
        )
        inbox.wait_chat(PIKET_CHAT, lambda t: "Kantor Lurah Lab tanpa internet" in t, cut_at, 10)
        # The page names the office, its kind and district, the cause, and links its dashboard.
        [page] = inbox.mails(cut_at)
        text = page.part("plain")
        for line in (
            "Situs: Kantor Lurah Lab (kantor)",
            "Wilayah: 64.71.04.1002",
            "Penyebab: putus",
            "Dasbor situs: http://grafana.test/d/pantau-site/pantau-site?var-site=kantor-lab",
            "/api/v1/outages?site=kantor-lab&open=true",
        ):
            assert line in text, (line, text)
        assert " WITA (sudah " in text  # local time from prometheus.yml's `timezone`
        # The router is still up: nothing else paged.
        assert [m.subject for m in inbox.mails()] == [page.subject]

        restored_at = time.monotonic()
        lab.restore("office1")
        resolved_after = inbox.wait_mail(
            lambda m: m.subject.startswith("[PULIH] Kantor Lurah Lab"),
            restored_at,
            RESOLVE_WITHIN,
        )
        [resolved] = inbox.mails(restored_at)
        assert "durasi total " in resolved.part("plain")
    print(
        f"loss warning {loss_after:.1f} s after 30% loss began; paged {paged_after:.1f} s after "
        f"the cut; resolved {resolved_after:.1f} s after restore"
    )


OFFICES = ["Gunung Sari Ilir", "Klandasan Ulu", "Karang Rejo", "Sumber Rejo", "Mekar Sari"]


def test_core_router_cut_pages_once_naming_it_and_5_kantor(
    lab_factory: Callable[..., object], inbox: Inbox, tmp_path: Path
) -> None:
    lab = lab_factory(tree={"core": None, **{f"office{i}": "core" for i in range(1, 6)}})
    agent_port = free_port()
    sites = [
        dict(id="core-bpp", name="Router Inti Balikpapan", kind="router",
             address=lab.attach_root("core"), district="64.71.04"),
    ] + [
        dict(id=f"kantor-{i}", name=f"Kantor Lurah {name}", kind="office",
             address=lab.address(f"office{i}"), district=f"64.71.04.100{i}", parent="core-bpp")
        for i, name in enumerate(OFFICES, start=1)
    ]  # fmt: skip
    config = _config(tmp_path, agent_port, sites)
    with _stack(tmp_path, inbox, config, agent_port) as prom:
        assert wait_for(prom, "count(site:pantau_site_up:max_connected == 1) == 6", 30)

        cut_at = time.monotonic()
        lab.cut("core", lab.ROOT)  # the router's uplink: it and all five offices drop off
        paged_after = inbox.wait_mail(
            lambda m: "Router Inti Balikpapan" in m.subject, cut_at, PAGE_WITHIN
        )
        inbox.wait_chat(PIKET_CHAT, lambda t: "Router Inti Balikpapan" in t, cut_at, 10)
        assert wait_for(
            prom, 'count(ALERTS{alertname="PantauSiteUnreachable",alertstate="firing"}) == 5', 10
        )
        time.sleep(6)  # longer than `for:` plus group_wait: a page per office would be here by now

        [mail] = inbox.mails(cut_at)
        assert mail.subject == "[GANGGUAN] Router Inti Balikpapan mati: 5 kantor tanpa internet"
        text = mail.part("plain")
        for line in (
            "Situs: Router Inti Balikpapan (router)",
            "Penyebab: putus",
            "Terdampak: 5 kantor di belakangnya",
            "karena perangkat induk Router Inti Balikpapan mati: 5 kantor (5 situs)",
        ):
            assert line in text, (line, text)
        assert not any(office in text for office in OFFICES)  # one message, not one per office
        [telegram] = inbox.chat(PIKET_CHAT, cut_at)
        assert "Router Inti Balikpapan mati: 5 kantor tanpa internet" in telegram
        assert "Terdampak: 5 kantor" in telegram

        restored_at = time.monotonic()
        lab.restore("core", lab.ROOT)
        resolved_after = inbox.wait_mail(
            lambda m: m.subject.startswith("[PULIH] Router Inti Balikpapan"),
            restored_at,
            RESOLVE_WITHIN,
        )
        inbox.wait_chat(PIKET_CHAT, lambda t: t.startswith("✅"), restored_at, 10)
        time.sleep(3)  # a second resolved message (or a late office page) would be here by now

    firing = [m for m in inbox.mails() if m.subject.startswith("[GANGGUAN]")]
    resolved = [m for m in inbox.mails() if m.subject.startswith("[PULIH]")]
    assert [m.subject for m in firing] == [mail.subject]
    assert len(resolved) == 1 and "durasi total " in resolved[0].part("plain")
    chats = inbox.chat(PIKET_CHAT)
    assert len(chats) == 2 and chats[1].startswith("✅") and "durasi total " in chats[1]
    assert not inbox.telegram.refused()
    print(
        f"one page {paged_after:.1f} s after the core router was cut off; "
        f"resolved {resolved_after:.1f} s after restore"
    )
