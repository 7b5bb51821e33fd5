"""``pantau probe icmp``: JSON lines, exit status, argument errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from icmp_support import needs_icmp

from pantau.cli import main

FIELDS = [
    "target",
    "address",
    "sent",
    "received",
    "loss",
    "rtt_min_ms",
    "rtt_avg_ms",
    "rtt_max_ms",
    "rtt_stddev_ms",
    "reason",
]


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


@needs_icmp
def test_one_line_per_target_in_order(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    targets = tmp_path / "targets.txt"
    targets.write_text("# loopback\n127.1.0.1\n\n127.1.0.2  # second\n127.1.0.1\n")
    code = main(
        ["probe", "icmp", "--count", "2", "--timeout", "1", "-f", str(targets), "127.0.0.1"]
    )
    rows = lines(capsys.readouterr().out)
    assert code == 0
    assert [r["target"] for r in rows] == ["127.0.0.1", "127.1.0.1", "127.1.0.2"]
    for row in rows:
        assert list(row) == FIELDS
        assert (row["sent"], row["received"], row["loss"], row["reason"]) == (2, 2, 0.0, "ok")
        assert 0 < row["rtt_min_ms"] <= row["rtt_avg_ms"] <= row["rtt_max_ms"] < 1000


@needs_icmp
def test_unlimited_rate_and_period(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["probe", "icmp", "-c", "3", "--rate", "0", "--period", "0.01", "127.0.0.1"])
    assert code == 0 and lines(capsys.readouterr().out)[0]["received"] == 3


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--count", "0", "127.0.0.1"], "--count/-c: '0' must be > 0"),
        (["--timeout", "x", "127.0.0.1"], "--timeout/-t: 'x' is not a number"),
        (["--rate", "-1", "127.0.0.1"], "--rate/-r: '-1' must be >= 0"),
        (["--socket", "udp", "127.0.0.1"], "invalid choice: 'udp'"),
    ],
    ids=["count", "timeout", "rate", "socket"],
)
def test_bad_arguments_exit_2(argv, message, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["probe", "icmp", *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_no_targets_and_missing_file_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["probe", "icmp"]) == 2
    assert "no targets; give TARGET... or --targets-file" in capsys.readouterr().err
    missing = tmp_path / "nope.txt"
    assert main(["probe", "icmp", "-f", str(missing)]) == 2
    assert f"--targets-file {missing}: [Errno 2]" in capsys.readouterr().err
