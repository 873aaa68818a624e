"""The notebooks' one-line summaries: the figures of the result, and a plain word where nothing was measured."""

from todo_runbook import summaries
from todo_runbook.httpcheck import ChatCheck, LatencyResult
from todo_runbook.teardown import TeardownResult
from todo_runbook.verify import VerifyResult


def test_verify_summaries_show_the_measured_figures():
    result = VerifyResult("todo", "todo", access="ingress", access_note="Host: todo.local",
                          chat=ChatCheck(True, True, prompt="add milk", reply="Added milk", tool_calls=["add_task"]),
                          latency=LatencyResult("/health", 300, 1, 3.1, 7.4, 12.0, 15.0, 3.5))
    assert summaries.access(result).data == "access: **ingress** (Host: todo.local)"
    assert summaries.chat(result).data == ("chat “add milk” → task added: **True**, tools: ['add_task'], "
                                           "reply: “Added milk”")
    assert summaries.latency(result).data == "300 × GET /health: p50 3.1 ms, p95 **7.4 ms**, p99 12.0 ms, 1 failed"


def test_missing_measurements_say_so_instead_of_failing():
    result = VerifyResult("todo", "todo")
    assert summaries.chat(result).data == "chat: not measured in this run"
    assert summaries.latency(result).data == "latency: not measured in this run"
    assert summaries.rolling_and_recovery(result).data == "rolling update and pod kill: not measured in this run"
    assert summaries.resources(result).data == "metrics: not measured in this run"


def test_teardown_summary():
    gone = TeardownResult("todo", "todo", seconds=12.34, leftovers=["namespace todo (Terminating)"], nothing_left=False)
    assert summaries.teardown(gone).data == "nothing left: **False** ['namespace todo (Terminating)'] (12.3 s)"
    timed = TeardownResult("todo", "todo", seconds=5.0, nothing_left=True,
                           phases={"uninstall_s": 1.0, "pods_stopped_s": 2.5, "namespace_s": 1.5})
    assert summaries.teardown(timed).data == ("nothing left: **True**  (5.0 s: uninstall 1.0 s, pods stopped 2.5 s, "
                                              "namespace 1.5 s)")
