"""Failures on demand in a running lab, by node name: a small prompt and scenario files.

Commands (one per line in a scenario file; ``#`` starts a comment)::

    cut NODE [PEER]          take the link NODE-PEER down (default: NODE's uplink; PEER
                             root: the link between the lab and this machine)
    restore NODE [PEER]      bring it back, with every route the kernel dropped
    down NODE / up NODE      the node dies (all its links down) / comes back
    loss NODE [PEER] PCT     drop PCT % of packets on the link, each direction
    delay NODE [PEER] MS [JITTER_MS]   add delay (and jitter) on the link, each direction
    clear NODE [PEER]        remove loss and delay from the link
    kill AGENT / start AGENT stop an agent process (SIGTERM) / start it again
    wait SECONDS             let time pass
    expect SITE STATE [SECONDS]   wait until the collector says SITE is STATE (default 120 s)
    status                   every site's state at the collector
    nodes                    the lab's nodes, addresses and what is changed now
    reset                    undo every change still in place (also done at the end)

Every change is recorded and :meth:`LabControl.reset` undoes what is still in place, so a lab
after a scenario has exactly its first routes, links and processes (``tests/test_lab_control.py``
compares ``ip route`` of every namespace before and after).
"""

from __future__ import annotations

import cmd
import shlex
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pantau.lab.iproute import LabError

if TYPE_CHECKING:
    from pantau.lab.netns import Lab
    from pantau.lab.runner import LabRun


class ScenarioFailed(LabError):
    """A scenario step failed (bad command, unknown node, an ``expect`` not met)."""


@dataclass
class _Changes:
    """What is changed now: cut links, dead nodes, impaired links, stopped agents."""

    cut: set[tuple[str, str]] = field(default_factory=set)
    down: set[str] = field(default_factory=set)
    impaired: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    stopped: set[str] = field(default_factory=set)


class LabControl:
    """Apply commands to ``lab`` (and to the processes of ``run``, when given)."""

    def __init__(self, lab: Lab, run: LabRun | None = None, out: Any = print) -> None:
        self.lab, self.run, self.out = lab, run, out
        self.changes = _Changes()

    # -- parsing ----------------------------------------------------------------------------
    def execute(self, line: str) -> None:
        """Run one command line; raise :class:`ScenarioFailed` saying what is wrong."""
        words = shlex.split(line, comments=True)
        if not words:
            return
        verb, args = words[0].lower(), words[1:]
        handler = getattr(self, f"_do_{verb}", None)
        if handler is None:
            raise ScenarioFailed(f"unknown command {verb!r}; commands: {', '.join(COMMANDS)}")
        try:
            handler(args)
        except (TypeError, ValueError) as exc:
            raise ScenarioFailed(f"{line.strip()!r}: {exc}; see `help {verb}`") from None

    def run_file(self, path: Path) -> None:
        """Run a scenario file, step by step; stop at the first failing step."""
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ScenarioFailed(f"{path}: cannot read the scenario: {exc.strerror}") from None
        for number, line in enumerate(lines, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            self.out(f"[{time.strftime('%H:%M:%S')}] {path.name}:{number}: {line.strip()}")
            try:
                self.execute(line)
            except LabError as exc:
                raise ScenarioFailed(f"{path}:{number}: {exc}") from None

    def _node(self, name: str) -> str:
        if name not in self.lab.nodes:
            known = ", ".join(sorted(self.lab.nodes))
            raise ScenarioFailed(f"no node {name!r} in this lab; nodes: {known}")
        return name

    def _link(self, args: list[str], numbers: range = range(1)) -> tuple[str, str, list[float]]:
        """(node, peer, numbers) from ``NODE [PEER] NUMBER...``; peer defaults to the uplink.

        ``numbers`` is how many trailing numbers may follow (node names are never numbers).
        """
        cut = len(args)
        while cut > 0 and _is_number(args[cut - 1]):
            cut -= 1
        words, nums = args[:cut], [float(n) for n in args[cut:]]
        if not 1 <= len(words) <= 2 or len(nums) not in numbers:
            wanted = {0: "", 1: " NUMBER", 2: " NUMBER [NUMBER]"}[max(numbers)]
            raise ValueError(f"expected NODE [PEER]{wanted}")
        node = self._node(words[0])
        peer = None
        if len(words) == 2:  # the root namespace's end of the lab's uplink is "root"
            peer = words[1] if words[1] == self.lab.ROOT else self._node(words[1])
        link = self.lab.link_between(node, peer)
        return link.a, link.b, nums

    # -- links and nodes --------------------------------------------------------------------
    def _do_cut(self, args: list[str]) -> None:
        a, b, _ = self._link(args)
        self.lab.cut(a, b)
        self.changes.cut.add((a, b))
        self.out(f"link {a}-{b} cut")

    def _do_restore(self, args: list[str]) -> None:
        a, b, _ = self._link(args)
        self.lab.restore(a, b)
        self.changes.cut.discard((a, b))
        self.out(f"link {a}-{b} restored (routes reinstalled)")

    def _do_down(self, args: list[str]) -> None:
        (name,) = args
        self.lab.kill(self._node(name))
        self.changes.down.add(name)
        self.out(f"node {name} down (all its links)")

    def _do_up(self, args: list[str]) -> None:
        (name,) = args
        self.lab.revive(self._node(name))
        self.changes.down.discard(name)
        # links cut one by one stay cut: revive brought them up with the node
        for a, b in list(self.changes.cut):
            if name in (a, b):
                self.lab.cut(a, b)
        self.out(f"node {name} up")

    def _impair(self, a: str, b: str, **what: float) -> None:
        current = {**self.changes.impaired.get((a, b), {}), **what}
        current = {k: v for k, v in current.items() if v}
        if current:
            self.lab.netem(a, b, **current)
            self.changes.impaired[(a, b)] = current
        else:
            self.lab.clear_netem(a, b)
            self.changes.impaired.pop((a, b), None)

    def _do_loss(self, args: list[str]) -> None:
        a, b, (pct,) = self._link(args, numbers=range(1, 2))
        if not 0 <= pct <= 100:
            raise ValueError("loss is a percentage, 0..100")
        self._impair(a, b, loss=pct / 100)
        self.out(f"link {a}-{b}: {pct:g} % loss each way")

    def _do_delay(self, args: list[str]) -> None:
        a, b, nums = self._link(args, numbers=range(1, 3))
        ms, jitter = nums[0], (nums[1] if len(nums) == 2 else 0.0)
        if ms < 0 or jitter < 0:
            raise ValueError("delay and jitter are milliseconds >= 0")
        self._impair(a, b, delay=ms / 1000, jitter=jitter / 1000)
        self.out(f"link {a}-{b}: {ms:g} ms delay, {jitter:g} ms jitter each way")

    def _do_clear(self, args: list[str]) -> None:
        a, b, _ = self._link(args)
        self.lab.clear_netem(a, b)
        self.changes.impaired.pop((a, b), None)
        self.out(f"link {a}-{b}: no loss, no delay")

    # -- processes --------------------------------------------------------------------------
    def _agent(self, args: list[str]) -> str:
        (name,) = args
        agents = self.run.settings.agents if self.run else ()
        if name not in agents:
            raise ScenarioFailed(f"no agent {name!r}; agents: {', '.join(agents) or 'none'}")
        return name

    def _do_kill(self, args: list[str]) -> None:
        name = self._agent(args)
        assert self.run is not None
        code = self.run.signal(name, signal.SIGTERM)
        self.changes.stopped.add(name)
        self.out(f"agent {name} stopped (exit {code})")

    def _do_start(self, args: list[str]) -> None:
        name = self._agent(args)
        assert self.run is not None
        self.run.start_agent(name)
        self.run.wait_http(self.run.files.agent_urls[name] + "/api/v1/events?after=0&limit=1")
        self.changes.stopped.discard(name)
        self.out(f"agent {name} started")

    # -- time and observation ---------------------------------------------------------------
    def _do_wait(self, args: list[str]) -> None:
        (seconds,) = args
        time.sleep(float(seconds))

    def _states(self) -> dict[str, str]:
        if self.run is None:
            raise ScenarioFailed("no collector in this lab")
        url = self.run.files.collector_url + "/api/v1/sites"
        try:
            sites = self.run.get_json(url)["sites"]
        except OSError as exc:
            raise ScenarioFailed(f"collector at {url} did not answer: {exc}") from None
        return {s["id"]: s["state"] for s in sites}

    def _do_expect(self, args: list[str]) -> None:
        if len(args) not in (2, 3):
            raise ValueError("expected SITE STATE [SECONDS]")
        site, state = args[0], args[1]
        timeout = float(args[2]) if len(args) == 3 else 120.0
        deadline, seen = time.monotonic() + timeout, None
        while True:
            states = self._states()
            if site not in states:
                raise ScenarioFailed(f"no site {site!r} at the collector")
            seen = states[site]
            if seen == state:
                self.out(f"{site} is {state}")
                return
            if time.monotonic() > deadline:
                raise ScenarioFailed(f"{site} is {seen}, not {state}, after {timeout:g} s")
            time.sleep(0.5)

    def _do_status(self, args: list[str]) -> None:
        for site, state in sorted(self._states().items()):
            self.out(f"  {site:<28} {state}")

    def _do_nodes(self, args: list[str]) -> None:
        for name in self.lab.nodes:
            self.out(f"  {name:<28} {self.lab.address(name)}")
        for line in self.describe_changes():
            self.out(f"  changed: {line}")

    def describe_changes(self) -> list[str]:
        c = self.changes
        return [
            *(f"link {a}-{b} cut" for a, b in sorted(c.cut)),
            *(f"node {n} down" for n in sorted(c.down)),
            *(f"link {a}-{b} impaired {v}" for (a, b), v in sorted(c.impaired.items())),
            *(f"agent {n} stopped" for n in sorted(c.stopped)),
        ]

    def _do_reset(self, args: list[str]) -> None:
        self.reset()

    def reset(self) -> None:
        """Undo every change still in place: agents, impairments, nodes, then links."""
        c = self.changes
        for name in sorted(c.stopped):
            self._do_start([name])
        for a, b in sorted(c.impaired):
            self._do_clear([a, b])
        for name in sorted(c.down):
            self._do_up([name])
        for a, b in sorted(c.cut):
            self._do_restore([a, b])


COMMANDS = sorted(name[4:] for name in dir(LabControl) if name.startswith("_do_"))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class LabShell(cmd.Cmd):
    """The ``lab>`` prompt of ``pantau lab``: each line is a :class:`LabControl` command."""

    intro = "Type a command (help: list them; quit or Ctrl-D: stop and remove the lab)."
    prompt = "lab> "

    def __init__(self, control: LabControl, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.control = control

    def default(self, line: str) -> None:
        try:
            self.control.execute(line)
        except LabError as exc:
            print(f"error: {exc}", file=self.stdout)

    def do_quit(self, _arg: str) -> bool:
        """Stop: undo what is changed and remove the lab."""
        return True

    do_exit = do_EOF = do_quit

    def do_help(self, arg: str) -> None:
        doc = (__doc__ or "").split("::", 1)[1].split("\n\n")[1]
        lines = [ln.strip() for ln in doc.splitlines() if ln.strip()]
        picked = [ln for ln in lines if not arg or ln.split()[0] == arg] or lines
        print("\n".join(picked), file=self.stdout)

    def completenames(self, text: str, *ignored: Any) -> list[str]:
        return [c for c in (*COMMANDS, "quit") if c.startswith(text)]

    def completedefault(self, text: str, *ignored: Any) -> list[str]:
        return [n for n in self.control.lab.nodes if n.startswith(text)]

    def emptyline(self) -> bool:
        return False
