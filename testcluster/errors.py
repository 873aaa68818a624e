"""The one base class of every error the test bed raises (a leaf module: it imports nothing of ours).

``except TestbedError`` catches all six: BuildError (build), MissingBinaryError (paths), ProcessError
(procs), NodeError (node_runtime), ImageLoadError (images) and a failed ``up``/``down`` itself.
Each message says what failed and what to do.
"""

from __future__ import annotations


class TestbedError(RuntimeError):
    """The test bed could not be built, brought up or down; the message says what to do."""

    __test__ = False  # not a pytest test class despite the name
