"""last_hop() on loopback; paths with routers and cuts are in test_icmp_netns.py."""

from __future__ import annotations

import os

import pytest
from icmp_support import has_ipv6_loopback

from pantau.agent.icmp.traceroute import last_hop

needs_raw = pytest.mark.skipif(os.geteuid() != 0, reason="traceroute needs CAP_NET_RAW (root)")


@needs_raw
@pytest.mark.parametrize("target", ["127.0.0.1", "127.3.2.1", "::1"])
async def test_a_target_that_answers_is_its_own_last_hop(target: str) -> None:
    if ":" in target and not has_ipv6_loopback():
        pytest.skip("no ::1 on lo")
    assert await last_hop(target, max_hops=3, timeout=1.0) == target


@pytest.mark.parametrize(("max_hops", "tries"), [(0, 1), (256, 1), (8, 0)])
async def test_bad_bounds(max_hops: int, tries: int) -> None:
    with pytest.raises(ValueError, match=r"max_hops must be 1\.\.255 and tries >= 1"):
        await last_hop("127.0.0.1", max_hops=max_hops, tries=tries)
