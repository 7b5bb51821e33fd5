"""``pantau alertmanager-config``: secrets filled from files, never printed, the copy private."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dashboard_exprs import DASHBOARDS

from pantau.alertmanager import render
from pantau.errors import ConfigError

SHIPPED = DASHBOARDS / "alertmanager" / "alertmanager.yml"
TOKEN = "123456789:AAF-secret_token"


def _pantau(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pantau.cli", "alertmanager-config", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _shipped_with_secrets(tmp: Path, password: bytes = b"sandi") -> Path:
    """The shipped config with its secret paths moved under ``tmp``."""
    (tmp / "smtp-password").write_bytes(password)
    (tmp / "telegram-bot-token").write_text(TOKEN + "\n")
    source = tmp / "alertmanager.yml"
    source.write_text(SHIPPED.read_text().replace("/etc/pantau/secrets", str(tmp)))
    return source


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('bot_token: "<file:/s/t>"\n', 'bot_token: "T"\n'),
        ("bot_token: '<file:/s/t>'\n", 'bot_token: "T"\n'),
        ("bot_token: <file:/s/t>\n", 'bot_token: "T"\n'),
        ('url: "http://x/<y>"\n', 'url: "http://x/<y>"\n'),  # not a file reference
    ],
    ids=["double-quoted", "single-quoted", "plain", "untouched"],
)
def test_render_replaces_file_references_only(text: str, expected: str) -> None:
    assert render(text, read=lambda path: {"/s/t": "T"}[path])[0] == expected


def test_the_shipped_config_is_filled_and_kept_private(tmp_path: Path) -> None:
    source = _shipped_with_secrets(tmp_path)
    target = tmp_path / "run" / "alertmanager.yml"
    target.parent.mkdir()
    proc = _pantau(str(source), str(target))
    assert proc.returncode == 0, proc.stderr
    assert "1 secret(s) filled" in proc.stdout  # one reference, shared by a YAML anchor
    assert TOKEN not in proc.stdout + proc.stderr
    assert target.stat().st_mode & 0o777 == 0o600
    data = yaml.safe_load(target.read_text())
    tokens = {tg["bot_token"] for r in data["receivers"] for tg in r.get("telegram_configs", [])}
    assert tokens == {TOKEN}
    if shutil.which("amtool"):
        check = subprocess.run(
            ["amtool", "check-config", str(target)], capture_output=True, text=True, timeout=30
        )
        assert check.returncode == 0, check.stdout + check.stderr
        assert TOKEN not in check.stdout + check.stderr


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ("missing token", "telegram-bot-token: cannot read the secret file: No such file"),
        ("empty token", "telegram-bot-token: the secret file must hold one non-empty line"),
        ("password with newline", "smtp-password: ends with a newline, which Alertmanager 0.25"),
    ],
)
def test_a_bad_secret_file_is_refused_naming_it(
    breakage: str, message: str, tmp_path: Path
) -> None:
    source = _shipped_with_secrets(tmp_path)
    if breakage == "missing token":
        (tmp_path / "telegram-bot-token").unlink()
    elif breakage == "empty token":
        (tmp_path / "telegram-bot-token").write_text("\n")
    else:
        (tmp_path / "smtp-password").write_text("sandi\n")
    target = tmp_path / "out.yml"
    proc = _pantau(str(source), str(target))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert not target.exists()


def test_render_raises_config_error_for_an_unreadable_file() -> None:
    with pytest.raises(ConfigError, match="/no/such/file: cannot read the secret file"):
        render('bot_token: "<file:/no/such/file>"')
