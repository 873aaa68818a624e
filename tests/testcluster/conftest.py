"""Fixtures shared by the test bed modules."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="module")
def real_node(testbed: Any) -> Any:
    if testbed.node_error == "disabled with TODO_TESTBED_NODE=0":
        pytest.skip("the real node is disabled with TODO_TESTBED_NODE=0")
    if testbed.node_error:
        pytest.fail(f"the test bed's real node did not come up: {testbed.node_error}")
    return testbed
