"""Pytest fixtures for the network lab (:mod:`pantau.lab.netns`).

``lab_factory`` builds labs with :meth:`Lab.tree`/:meth:`Lab.star` and closes every one of them in
its finalizer, even when the test fails or is interrupted. ``lab`` is a ready star lab:
router ``core``, hosts ``office1``, ``office2``, agent ``agent1``. Both skip with the reason when
not root or when ``ip netns add`` fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pantau.lab.netns import Lab, available
from pantau.lab.plan import DEMO_SITES, LabSettings
from pantau.lab.runner import LabRun


@pytest.fixture(scope="session")
def lab_unavailable() -> str | None:
    """None when namespaces can be made here, else why not."""
    return available()


@pytest.fixture
def lab_factory(lab_unavailable: str | None) -> Iterator[Callable[..., Lab]]:
    """Call with ``tree=`` (``{node: parent}``) or ``star=`` (kwargs of :meth:`Lab.star`)."""
    if lab_unavailable:
        pytest.skip(lab_unavailable)
    labs: list[Lab] = []

    def make(*, tree: dict[str, str | None] | None = None, **star: object) -> Lab:
        lab = Lab.tree(tree) if tree is not None else Lab.star(**star)  # type: ignore[arg-type]
        labs.append(lab)
        return lab

    try:
        yield make
    finally:
        for lab in labs:
            lab.close()


@pytest.fixture
def lab(lab_factory: Callable[..., Lab]) -> Lab:
    """A star lab: ``core`` routing for ``office1``, ``office2`` and ``agent1``."""
    return lab_factory(router="core", hosts=["office1", "office2"], agents=["agent1"])


@pytest.fixture
def start_lab(lab_unavailable: str | None, tmp_path: Path) -> Iterator[Callable[..., LabRun]]:
    """Build and start a lab (``settings=`` to change timings); stopped and removed afterwards."""
    from labscenario import FAST, missing_parts

    if lab_unavailable:
        pytest.skip(lab_unavailable)
    why = missing_parts()
    if why:
        pytest.skip(why)
    runs: list[LabRun] = []

    def start(
        settings: LabSettings | None = None, sites: Any = DEMO_SITES, *, go: bool = True
    ) -> LabRun:
        run = LabRun.build(sites, settings or FAST, tmp_path / f"lab{len(runs)}")
        runs.append(run)
        if go:
            run.start_all()
        return run

    try:
        yield start
    finally:
        for run in runs:
            run.close()
