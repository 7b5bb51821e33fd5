"""The notification templates: amtool renders each one, and a real Alertmanager delivers them.

Alertmanager (Debian, the shipped alertmanager.yml and templates) receives alerts through its API
and sends them to a real SMTP server on loopback (aiosmtpd, with the password Alertmanager read
from its file) and to the Telegram stand-in of ``notify_peers`` (it checks each request as
Telegram's Bot API would). The messages are checked field by field, in Indonesian and English.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard_exprs import DASHBOARDS
from notify_peers import (
    TELEGRAM_MAX_TEXT,
    SmtpSink,
    TelegramStandIn,
    alertmanager_test_config,
    telegram_html_errors,
    wait_until,
)
from promstack import ALERTMANAGER_BIN, alertmanager_argv, http_json, run_server

SHIPPED = DASHBOARDS / "alertmanager" / "alertmanager.yml"
TEMPLATES = DASHBOARDS / "alertmanager" / "templates"
PIKET_CHAT, NOC_CHAT, TENGAH_CHAT = -1001000000001, -1001000000002, -1001000006404
TOKEN = "123456789:AAH-test_token-for-pantau"
SMTP_USER, SMTP_PASSWORD = "pantau@pemkot.example", "sandi-rahasia-di-berkas"

pytestmark = pytest.mark.skipif(
    shutil.which("amtool") is None or ALERTMANAGER_BIN is None,
    reason="amtool/alertmanager not installed (Debian package prometheus-alertmanager)",
)


@pytest.mark.parametrize("lang", ["id", "en"])
@pytest.mark.parametrize("name", ["subject", "text", "html", "telegram"])
def test_amtool_renders_each_template(lang: str, name: str) -> None:
    """``amtool template render`` with its built-in example data (two alerts, no pantau labels)."""
    proc = subprocess.run(
        [
            "amtool",
            "template",
            "render",
            f"--template.glob={TEMPLATES}/*.tmpl",
            f'--template.text={{{{ template "pantau.{lang}.{name}" . }}}}',
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.strip() and "<no value>" not in out
    # The example's status is neither firing nor resolved: the messages say "resolved".
    assert ("PULIH" if lang == "id" else "RESOLVED") in out.upper()
    assert ("peringatan" if lang == "id" else "alerts") in out or name != "subject"
    if name in ("text", "html", "telegram"):
        assert out.count("Sejak: " if lang == "id" else "Since: ") == 2  # one line per alert
        assert " UTC" in out  # the example alerts carry no `timezone` label
    if name == "telegram":
        errors, shown = telegram_html_errors(out)
        assert not errors and len(shown) <= TELEGRAM_MAX_TEXT


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[tuple[SmtpSink, TelegramStandIn]]:
    smtp = SmtpSink(SMTP_USER, SMTP_PASSWORD)
    smtp.start()
    telegram = TelegramStandIn(TOKEN)
    try:
        yield smtp, telegram
    finally:
        telegram.close()
        smtp.stop()


def _secret_files(tmp: Path) -> tuple[Path, Path]:
    secrets = tmp / "secrets"
    secrets.mkdir(mode=0o700)
    password, token = secrets / "smtp-password", secrets / "telegram-bot-token"
    password.write_text(SMTP_PASSWORD)  # no newline: Alertmanager 0.25 would send it
    token.write_text(TOKEN + "\n")
    return password, token


def _english_for_tengah(data: dict) -> None:
    """The Balikpapan Tengah team reads English: its receiver calls the pantau.en templates."""
    [receiver] = [r for r in data["receivers"] if r["name"] == "kec-balikpapan-tengah"]
    for tg in receiver["telegram_configs"]:
        tg["message"] = tg["message"].replace("pantau.id.", "pantau.en.")


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _upstream_alert(start: dt.datetime, end: dt.datetime | None = None, name: str = "") -> dict:
    alert = {
        "labels": {
            "alertname": "PantauUpstreamDown",
            "severity": "critical",
            "cause": "down",
            "site": "core-bpp",
            "name": name or "Router Inti <Balikpapan> & DC",
            "kind": "router",
            "district": "64.71.04",
            "district_name": "Balikpapan Tengah",
            "timezone": "WITA",
        },
        "annotations": {
            "summary": f"{name or 'Router Inti <Balikpapan> & DC'} mati: 5 kantor tanpa internet",
            "description": "Perangkat putus.",
            "affected_offices": "5",
            "down_for": "1h 4m 0s",
            "last_hop": "10.20.0.1",
            "dashboard": "http://grafana.test/d/pantau-site/pantau-site?var-site=core-bpp",
            "outage": "http://collector.test:9470/api/v1/outages?site=core-bpp&open=true",
            "runbook_url": "http://docs.test/runbook.md#pantauupstreamdown",
        },
        "startsAt": _iso(start),
    }
    if end is not None:
        alert["endsAt"] = _iso(end)
    return alert


def test_upstream_down_message_by_email_and_telegram_then_resolved(
    peers: tuple[SmtpSink, TelegramStandIn], tmp_path: Path
) -> None:
    smtp, telegram = peers
    password, token = _secret_files(tmp_path)
    config = alertmanager_test_config(
        SHIPPED, tmp_path, smtp, password, telegram, token, edit=_english_for_tengah
    )
    assert TOKEN not in (tmp_path / "alertmanager.src.yml").read_text()
    assert config.stat().st_mode & 0o077 == 0  # the filled copy is readable by its owner only
    # 02:00 UTC is 10:00 WITA; resolved 65 minutes later.
    start = dt.datetime.now(dt.UTC).replace(hour=2, minute=0, second=0, microsecond=0)
    start -= dt.timedelta(days=1)
    end = start + dt.timedelta(minutes=65)
    with run_server("alertmanager", alertmanager_argv(config, tmp_path / "am"), tmp_path) as am:
        http_json(f"{am.url}/api/v2/alerts", [_upstream_alert(start)])
        wait_until(smtp.received, 30, what="the firing e-mail")
        wait_until(lambda: telegram.messages(PIKET_CHAT), 30, what="the firing Telegram message")
        wait_until(lambda: telegram.messages(TENGAH_CHAT), 30, what="the district's message")

        http_json(f"{am.url}/api/v2/alerts", [_upstream_alert(start, end)])
        wait_until(lambda: len(smtp.received()) == 2, 30, what="the resolved e-mail")
        wait_until(lambda: len(telegram.messages(PIKET_CHAT)) == 2, 30, what="resolved on Telegram")
        wait_until(lambda: len(telegram.messages(TENGAH_CHAT)) == 2, 30, what="resolved, district")
    log = (tmp_path / "alertmanager.log").read_text()
    assert TOKEN not in log and SMTP_PASSWORD not in log

    # E-mail: to the on-call address, logged in with the password from the file.
    firing, resolved = smtp.received()
    assert firing.rcpt == ("piket-jaringan@pemkot.example",)
    assert (firing.login, firing.password) == (SMTP_USER, SMTP_PASSWORD)
    assert firing.subject == (
        "[GANGGUAN] Router Inti <Balikpapan> & DC mati: 5 kantor tanpa internet"
    )
    text = firing.part("plain")
    for line in (
        "Situs: Router Inti <Balikpapan> & DC (router)",
        "Wilayah: Balikpapan Tengah (64.71.04)",
        "Penyebab: putus",
        "Terdampak: 5 kantor di belakangnya",
        "Hop terakhir yang menjawab: 10.20.0.1",
        f"Sejak: {start:%d-%m-%Y} 10:00 WITA (sudah 1 jam 4 menit)",
        "Dasbor situs: http://grafana.test/d/pantau-site/pantau-site?var-site=core-bpp",
        "Gangguan di collector: http://collector.test:9470/api/v1/outages?site=core-bpp&open=true",
        "Panduan: http://docs.test/runbook.md#pantauupstreamdown",
    ):
        assert line in text, (line, text)
    html = firing.part("html")
    assert "Router Inti &lt;Balikpapan&gt; &amp; DC" in html  # escaped in the HTML part
    assert "<b>5 kantor</b>" in html
    assert resolved.subject.startswith("[PULIH] Router Inti")
    assert f"Pulih: {start:%d-%m-%Y} 11:05 WITA, durasi total 1 jam 5 menit" in resolved.part(
        "plain"
    )

    # Telegram: HTML the Bot API accepts, the same facts, escaped; resolved gives the duration.
    tg_firing, tg_resolved = (m.params for m in telegram.messages(PIKET_CHAT))
    assert tg_firing["parse_mode"] == "HTML"
    _, shown = telegram_html_errors(tg_firing["text"])
    assert "🔴 Router Inti <Balikpapan> & DC mati: 5 kantor tanpa internet" in shown
    assert "Terdampak: 5 kantor" in shown and "Penyebab: putus" in shown
    assert f"Sejak: {start:%d-%m-%Y} 10:00 WITA (sudah 1 jam 4 menit)" in shown
    assert (
        '<a href="http://grafana.test/d/pantau-site/pantau-site?var-site=core-bpp">'
        in (tg_firing["text"])
    )
    _, shown = telegram_html_errors(tg_resolved["text"])
    assert "✅" in shown and "durasi total 1 jam 5 menit" in shown

    # The district team reads English.
    en_firing, en_resolved = (m.params for m in telegram.messages(TENGAH_CHAT))
    _, shown = telegram_html_errors(en_firing["text"])
    assert "Cause: link down" in shown and "Affected: 5 offices" in shown
    assert "District: Balikpapan Tengah (64.71.04)" in shown
    _, shown = telegram_html_errors(en_resolved["text"])
    assert "total duration 1 h 5 min" in shown
    assert not telegram.refused()


def test_a_large_group_stays_within_telegrams_limits(
    peers: tuple[SmtpSink, TelegramStandIn], tmp_path: Path
) -> None:
    """60 offices down on their own behind one router: one message per chat, valid and short."""
    smtp, telegram = peers
    password, token = _secret_files(tmp_path)
    config = alertmanager_test_config(SHIPPED, tmp_path, smtp, password, telegram, token)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    long_name = "Kantor Kelurahan " + "Sepinggan Baru Raya " * 8
    alerts = [
        {
            "labels": {
                "alertname": "PantauOfficeWithoutInternet",
                "severity": "critical",
                "site": f"kantor-{i}",
                "name": f"{long_name}{i}",
                "kind": "office",
                "parent": "core-bpp",
                "district": f"64.71.04.{1000 + i}",
                "timezone": "WIB",
            },
            "annotations": {
                "summary": f"Kantor {long_name}{i} tanpa internet",
                "description": "x" * 500,
                "dashboard": f"http://grafana.test/d/pantau-site/pantau-site?var-site=kantor-{i}",
                "runbook_url": "http://docs.test/runbook.md#pantauofficewithoutinternet",
            },
            "startsAt": _iso(start),
        }
        for i in range(60)
    ]
    with run_server("alertmanager", alertmanager_argv(config, tmp_path / "am"), tmp_path) as am:
        http_json(f"{am.url}/api/v2/alerts", alerts)
        # Alertmanager may flush the group while it still takes the alerts in (a first message
        # with fewer), then sends the update: wait for the one with all 60.
        wait_until(
            lambda: [m for m in telegram.messages(PIKET_CHAT) if "60 gangguan" in m.params["text"]],
            30,
            what="the on-call Telegram message with all 60",
        )
        wait_until(
            lambda: [m for m in smtp.received() if m.subject.endswith("(60 peringatan)")],
            30,
            what="the on-call e-mail with all 60",
        )
    assert not telegram.refused()  # every message, partial ones included, was valid
    for message in telegram.messages(PIKET_CHAT):
        errors, shown = telegram_html_errors(message.params["text"])
        assert not errors and len(shown) <= TELEGRAM_MAX_TEXT
    [message] = [m for m in telegram.messages(PIKET_CHAT) if "60 gangguan" in m.params["text"]]
    _, shown = telegram_html_errors(message.params["text"])
    assert "4 dari 60 ditampilkan" in shown and " WIB" in shown
    [mail] = [m for m in smtp.received() if m.subject.endswith("(60 peringatan)")]
    assert mail.part("plain").count("GANGGUAN: Kantor") == 60  # the e-mail lists every office


@pytest.mark.parametrize(
    ("lang", "cause", "alertname", "words"),
    [
        ("id", "power", "PantauSiteDown", "listrik padam (UPS memakai baterai)"),
        ("en", "power", "PantauSiteDown", "power cut (UPS on battery)"),
        ("id", "down", "PantauSiteDown", "putus"),
        ("en", "down", "PantauOfficeWithoutInternet", "link down"),
    ],
)
def test_cause_in_words_says_power_cut_for_the_collectors_cause_power(
    tmp_path, lang: str, cause: str, alertname: str, words: str
) -> None:
    """The collector's cause ``power`` (the site's UPS on battery, issue 16) is worded as a power
    cut, never as the link cut its alert name would otherwise imply."""
    alert = {
        "status": "firing",
        "labels": {"alertname": alertname, "cause": cause, "site": "bts1"},
        "annotations": {},
        "startsAt": "2026-12-01T18:00:00Z",
    }
    data = tmp_path / "data.json"
    data.write_text(json.dumps({"status": "firing", "alerts": [alert]}))
    proc = subprocess.run(
        [
            "amtool",
            "template",
            "render",
            f"--template.glob={TEMPLATES}/*.tmpl",
            f"--template.data={data}",
            f'--template.text={{{{ range .Alerts }}}}{{{{ template "pantau.{lang}.cause" . }}}}'
            "{{ end }}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == words
