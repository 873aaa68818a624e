"""What the ingress saw during a rolling update, for a failure message that explains itself.

A request that fails during `helm upgrade` is one event among thousands; whether it went to a pod that was
terminating, gone or not yet listed decides the fix. This records the backend's EndpointSlice states (by a
watch, timestamped here) and reads the test bed Traefik's access log (5xx and retried requests only), then
puts each failure next to the endpoint states around it.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class EndpointTimeline:
    """EndpointSlice states of one namespace, as a watch delivered them, until `stop()`."""

    def __init__(self, api_client: Any, namespace: str) -> None:
        from kubernetes import client, watch

        self.states: list[tuple[dt.datetime, str, list[str]]] = []
        self._watch = watch.Watch()
        self._api = client.DiscoveryV1Api(api_client)
        self._namespace = namespace
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for event in self._watch.stream(self._api.list_namespaced_endpoint_slice, self._namespace,
                                            timeout_seconds=900):
                slice_ = event["object"]
                endpoints = [f"{','.join(e.addresses)} ready={e.conditions.ready} serving={e.conditions.serving} "
                             f"terminating={e.conditions.terminating}" for e in slice_.endpoints or []]
                self.states.append((_now(), f"{event['type']} {slice_.metadata.name}", endpoints))
        except Exception as error:  # the timeline is diagnostics: never fail the test through it
            self.states.append((_now(), f"watch ended: {type(error).__name__}: {error}", []))

    def stop(self) -> None:
        self._watch.stop()
        self._thread.join(timeout=5)

    def around(self, moment: dt.datetime, seconds: float = 12) -> list[str]:
        window = dt.timedelta(seconds=seconds)
        return [f"{at.time().isoformat(timespec='milliseconds')} {what}: {'; '.join(endpoints)}"
                for at, what, endpoints in self.states if abs(at - moment) <= window]


def _parse_utc(text: str) -> dt.datetime:
    """Traefik writes nanoseconds ("...:16.123456789Z"); datetime keeps microseconds."""
    whole, _, fraction = text.rstrip("Z").partition(".")
    return dt.datetime.fromisoformat(f"{whole}.{(fraction or '0')[:6]:0<6}+00:00")


def access_log_entries(path: str | None, since: dt.datetime) -> list[dict[str, Any]]:
    """The Traefik access log's entries that started at or after ``since`` (empty when there is no log)."""
    if not path or not Path(path).exists():
        return []
    entries = []
    for line in Path(path).read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
            started = _parse_utc(entry["StartUTC"])
        except (ValueError, KeyError):
            continue
        if started >= since:
            entry["_started"] = started
            entries.append(entry)
    return entries


def explain(failures: list[tuple[dt.datetime, int | str]], log: list[dict[str, Any]],
            timeline: EndpointTimeline) -> str:
    """One paragraph per failed request: what the client saw, what the ingress logged, the endpoints then."""
    lines = []
    for at, outcome in failures[:3]:
        lines.append(f"- {at.time().isoformat(timespec='milliseconds')} client got {outcome}")
        for entry in log:
            if abs(entry["_started"] - at) <= dt.timedelta(seconds=35) and entry.get("DownstreamStatus", 0) >= 500:
                lines.append(f"  ingress: {entry['_started'].time().isoformat(timespec='milliseconds')} "
                             f"{entry.get('DownstreamStatus')} via {entry.get('ServiceURL')} "
                             f"retries={entry.get('RetryAttempts')} duration={entry.get('Duration', 0) / 1e6:.0f}ms")
        lines += ["  " + state for state in timeline.around(at)]
    retried = [e for e in log if e.get("RetryAttempts")]
    lines.append(f"requests the ingress retried on another pod: {len(retried)}")
    return "\n".join(lines)
