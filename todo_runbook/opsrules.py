"""The offline operations model's rules: a prompt -> read-only kubectl calls -> a short answer from their output.

No LLM is reachable here, so the runbook brings deterministic rules that do what an agent's model does:
pick kubectl commands for a plain-words prompt, read what they print, and say what it means. It is
labelled as what it is ("model: offline rules, not an LLM") wherever its output appears.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OFFLINE_LABEL = "model: offline rules, not an LLM"
OFFLINE_MODEL = "todo-runbook-offline-rules"
_NOT_NAMESPACES = {"health", "the", "this", "a", "all", "my", "each", "every", "for", "in"}
_MUTATING_WORDS = re.compile(r"\b(scale|deploy|delete|restart|rollout restart|create|apply|patch)\b", re.I)


@dataclass(frozen=True)
class ToolResult:
    command: str  # kubectl arguments, as the tool received them
    raw: str  # what the tool returned

    @property
    def exit_code(self) -> int | None:
        """Our MCP server heads its output with `$ command` and `(exit code N)`; other tools do not."""
        match = re.search(r"^\(exit code (\d+)\)$", self.raw[:2000], re.M)
        return int(match.group(1)) if match else None

    @property
    def output(self) -> str:
        lines = self.raw.splitlines()
        while lines and (lines[0].startswith("$ ") or re.match(r"^\((no )?exit code", lines[0])):
            lines.pop(0)
        return "\n".join(lines)

    @property
    def failed(self) -> bool:
        text = self.output.lower()
        return (self.exit_code not in (None, 0)) or text.startswith(("error", "refused")) or \
            "the connection to the server" in text


def namespace_in(prompt: str) -> str | None:
    for pattern in (r"\bnamespace\s+([a-z0-9][-a-z0-9]*)", r"\b([a-z0-9][-a-z0-9]*)\s+namespace\b",
                    r"(?:^|\s)-n\s+([a-z0-9][-a-z0-9]*)"):
        for match in re.finditer(pattern, prompt.lower()):
            if match.group(1) not in _NOT_NAMESPACES:
                return match.group(1)
    return None


def is_mutating(prompt: str) -> bool:
    return bool(_MUTATING_WORDS.search(prompt))


def _ns(prompt: str) -> list[str]:
    ns = namespace_in(prompt)
    return ["-n", ns] if ns else ["-A"]


def read_calls(prompt: str) -> list[str]:
    """Phase one: the read-only kubectl calls (arguments after `kubectl`) that answer the prompt."""
    text = prompt.lower()
    ns = " ".join(_ns(prompt))
    pods = f"get pods {ns} -o wide"
    if re.search(r"\bcost\b", text):
        return ["get nodes -o custom-columns=NAME:.metadata.name,CPU:.status.capacity.cpu,"
                "MEMORY:.status.capacity.memory",
                "get pods -A -o custom-columns=NAMESPACE:.metadata.namespace,NAME:.metadata.name,"
                "CPU_REQ:.spec.containers[*].resources.requests.cpu,"
                "MEM_REQ:.spec.containers[*].resources.requests.memory"]
    if "security" in text or "vulnerab" in text:
        return [f"get pods {ns} -o custom-columns=NAME:.metadata.name,IMAGE:.spec.containers[*].image,"
                "RUN_AS_NON_ROOT:.spec.securityContext.runAsNonRoot,"
                "PRIVILEGED:.spec.containers[*].securityContext.privileged,"
                "READ_ONLY_ROOT:.spec.containers[*].securityContext.readOnlyRootFilesystem,"
                "ESCALATION:.spec.containers[*].securityContext.allowPrivilegeEscalation"]
    if "optimi" in text or "resource allocation" in text or "memory" in text:
        return [f"top pods {ns}",
                f"get pods {ns} -o custom-columns=NAME:.metadata.name,"
                "CPU_REQ:.spec.containers[*].resources.requests.cpu,CPU_LIM:.spec.containers[*].resources.limits.cpu,"
                "MEM_REQ:.spec.containers[*].resources.requests.memory,"
                "MEM_LIM:.spec.containers[*].resources.limits.memory"]
    if "log" in text:
        component = "frontend" if "frontend" in text else "backend"
        since = re.search(r"last\s+(\d+)\s*(minute|min|hour|h)", text)
        window = f"{since.group(1)}{'h' if since and since.group(2).startswith('h') else 'm'}" if since else "10m"
        return [f"logs {ns} -l app.kubernetes.io/component={component} --since={window} --tail=20 --prefix"]
    if "cluster health" in text or (re.search(r"\bcluster\b", text) and "health" in text):
        return ["get nodes -o wide", "get pods -A", "get events -A --field-selector type=Warning"]
    if re.search(r"\bwhy\b|crash|fail|troubleshoot|investigate|wrong|not (running|ready|working)|broken", text) or \
            "namespace health" in text or re.search(r"\bhealth\b", text):
        return [pods, f"get events {ns} --sort-by=.lastTimestamp", f"get endpoints {ns}"]
    if "deployment" in text and "status" in text:
        return [f"get deployments {ns} -o wide", pods]
    if "deployment" in text:
        return [f"get deployments {ns} -o wide"]
    if is_mutating(text):  # scale/deploy: first see what is there
        return [f"get deployments {ns} -o wide"]
    if "pod" in text:
        return [pods]
    if "service" in text or "endpoint" in text:
        return [f"get services,endpoints {ns}"]
    return []


def _deployment_named(results: list[ToolResult], word: str) -> str | None:
    for result in results:
        for line in result.output.splitlines()[1:]:
            name = line.split()[0] if line.split() else ""
            if word in name:
                return name
    return None


def change_calls(prompt: str, results: list[ToolResult]) -> list[str]:
    """Phase two, for prompts that ask for a change: the one mutating call, built from what phase one saw."""
    text = prompt.lower()
    replicas = re.search(r"(\d+)\s+replica", text)
    if not replicas or not re.search(r"\b(scale|deploy)\b", text):
        return []
    component = "frontend" if "frontend" in text else "backend"
    name = _deployment_named(results, component)
    if not name:
        return []
    ns = " ".join(_ns(prompt))
    return [f"scale deployment/{name} {ns} --replicas={replicas.group(1)}"]


# -- reading the output --------------------------------------------------------------------------
# (reason + object + message) in `kubectl get events` rows -> what it means, and the remedy.
_EVENT_CAUSES = (
    (re.compile(r"FailedScheduling\s+(\S+)\s+(\d+/\d+ nodes are available[^\n]*)"), "{0} cannot be scheduled: {1}",
     "lower the pod's resource requests or add capacity"),
    (re.compile(r"(?:Failed|BackOff)\s+(\S+)\s+(?:Failed to pull image|Back-off pulling image)\s+\"?([^\s\"]+)"),
     "{0}: the node cannot pull image {1}", "load the image into the cluster or fix the repository:tag"),
    (re.compile(r"(?:Failed|ErrImageNeverPull)\s+(\S+)\s+Container image \"?([^\s\"]+)\"? is not present"),
     "{0}: image {1} is not on the node and the pull policy forbids pulling it", "load the image into the node"),
    (re.compile(r"BackOff\s+(\S+)\s+Back-off restarting failed container\s*(\S*)"),
     "{0}: container {1} keeps exiting (crash loop)", "read `kubectl logs --previous` for the crash"),
    (re.compile(r"Unhealthy\s+(\S+)\s+(Readiness probe failed:?[^\n]{0,80})"), "{0}: {1}",
     "fix the probe path/port or the app's readiness endpoint"),
)
_BAD_STATUS = re.compile(r"ImagePullBackOff|ErrImagePull|ErrImageNeverPull|CrashLoopBackOff|Error|Pending|"
                         r"CreateContainerConfigError|OOMKilled|Evicted")


def findings(results: list[ToolResult]) -> list[str]:
    """What is wrong, in plain words, read from pod tables, events and endpoints."""
    out: list[str] = []
    for result in results:
        lines = result.output.splitlines()
        header = lines[0].split() if lines else []
        if header[:1] == ["NAME"] and "READY" in header and "STATUS" in header:
            r_i, s_i = header.index("READY"), header.index("STATUS")
            for line in lines[1:]:
                cells = line.split()
                if len(cells) <= s_i:
                    continue
                ready, status = cells[r_i], cells[s_i]
                have, _, want = ready.partition("/")
                if _BAD_STATUS.search(status):
                    out.append(f"pod {cells[0]} is {status}")
                elif status == "Running" and have != want:
                    out.append(f"pod {cells[0]} is Running but not Ready ({ready})")
        if header[:2] == ["NAME", "ENDPOINTS"]:
            for line in lines[1:]:
                cells = line.split()
                if len(cells) >= 2 and cells[1] == "<none>":
                    out.append(f"service {cells[0]} has no endpoints: its selector matches no Ready pod "
                               "(fix the Service selector or the pod labels)")
        for pattern, template, remedy in _EVENT_CAUSES:
            for match in pattern.finditer(result.output):
                line = template.format(*(g.strip() for g in match.groups())) + f" (remedy: {remedy})"
                if line not in out:
                    out.append(line)
    return out


def _summary(result: ToolResult) -> str:
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    if not lines:
        return "no output"
    if result.failed:
        code = f"exit {result.exit_code}: " if result.exit_code else ""
        return f"failed ({code}{lines[-1][:300]})"
    if lines[0].split()[:1] in (["NAME"], ["NAMESPACE"], ["LAST"]):
        return f"{len(lines) - 1} row(s); first: {' '.join(lines[1].split()) if len(lines) > 1 else '-'}"
    return f"{len(lines)} line(s); last: {lines[-1][:200]}"


def answer(prompt: str, results: list[ToolResult]) -> str:
    """The final answer: what each command showed and what is wrong, from the outputs only."""
    parts = [f"[{OFFLINE_LABEL}]"]
    if not results:
        parts.append("I have no rule for this prompt. Ask about pods, deployments, logs, services, "
                     "cluster health, resources, cost or security in a namespace.")
        return "\n".join(parts)
    for result in results:
        parts.append(f"- kubectl {result.command}: {_summary(result)}")
    problems = findings(results)
    # A question about one object ("why is fault-x ...") is answered about that object first.
    named = [w for w in re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)+", prompt.lower()) if w != namespace_in(prompt)]
    focused = [p for p in problems if any(w in p for w in named)]
    problems = focused or problems
    refused = [r for r in results if r.output.lower().startswith("refused")]
    if refused:
        parts.append("The change was refused by the read-only kubectl tool; nothing was changed.")
    elif problems:
        parts.append("Problems found:")
        parts.extend(f"  * {p}" for p in problems)
    elif all(r.failed for r in results):
        parts.append("kubectl could not answer, so I cannot tell: check that the cluster is reachable.")
    elif any(r.command.startswith("scale ") for r in results):
        parts.append("Scaled as asked; the deployment controller now converges to the new replica count.")
    else:
        parts.append("No problem found in what these commands show.")
    return "\n".join(parts)
