"""The test suite's own set-up: tests sharing a trained-run fixture run on one xdist worker."""

from __future__ import annotations

import pytest


@pytest.mark.xdist_group("suite_setup")
def test_a_grouped_test_carries_its_group_under_loadgroup(request):
    """Under `--dist loadgroup` xdist schedules by a "@group" suffix of the node id; a pytest
    that drops it splits every group across the workers (pytest 9 with pytest-xdist 3.8), and
    each worker builds the shared fixtures again."""
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("not under pytest-xdist --dist loadgroup")
    assert request.node.nodeid.endswith("@suite_setup"), request.node.nodeid
