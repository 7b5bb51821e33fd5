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


def test_hand_formatted_lines_are_json() -> None:
    from pantau.agent.icmp.output import target_line
    from pantau.agent.icmp.pinger import TargetStats

    odd = 'h\u00f6st "quoted" \\ name'
    assert json.loads(target_line(odd, None, None)) == {
        "target": odd,
        "address": None,
        "sent": 0,
        "received": 0,
        "loss": None,
        "rtt_min_ms": None,
        "rtt_avg_ms": None,
        "rtt_max_ms": None,
        "rtt_stddev_ms": None,
        "reason": "dns",
    }
    stats = TargetStats("192.0.2.1", 4, (0.001, 0.003), {}, "ok")
    assert json.loads(target_line("gw", "192.0.2.1", stats)) == {
        "target": "gw",
        "address": "192.0.2.1",
        "sent": 4,
        "received": 2,
        "loss": 0.5,
        "rtt_min_ms": 1.0,
        "rtt_avg_ms": 2.0,
        "rtt_max_ms": 3.0,
        "rtt_stddev_ms": 1.0,
        "reason": "ok",
    }
    lost = TargetStats("192.0.2.1", 3, (), {"unreachable": 3}, "unreachable")
    row = json.loads(target_line("gw", "192.0.2.1", lost))
    assert (row["loss"], row["rtt_avg_ms"], row["reason"]) == (1.0, None, "unreachable")
