"""The ingress TLS Secret on the real test bed API server: created (and replaced) through the Kubernetes API as
type kubernetes.io/tls, found by the chart's Ingress, removed at teardown; no key material in what is recorded."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.chart.chart_tools import CHART
from todo_runbook import certs, tls
from todo_runbook.config import RunbookConfig
from todo_runbook.evidence import to_jsonable

pytestmark = pytest.mark.cluster


def test_the_release_secret_is_made_through_the_api_and_never_recorded(testbed: Any, tmp_path: Path) -> None:
    from kubernetes import client

    namespace = f"tls-{uuid.uuid4().hex[:6]}"
    config = RunbookConfig(release="tlscheck", namespace=namespace)
    rendered = testbed.run("helm", ["template", config.release, str(CHART), "-n", namespace,
                                    "-f", str(CHART / "values-dev.yaml")]).stdout
    api = testbed.api_client()
    core = client.CoreV1Api(api)
    try:
        setup = tls.prepare_release(api, config, rendered, tmp_path / "tls")
        assert setup.enabled and setup.secret and setup.secret.action == "created"
        secret = core.read_namespaced_secret("todo-app-ingress-tls", namespace)
        assert secret.type == "kubernetes.io/tls"
        files = certs.CertFiles(tmp_path / "tls" / "ca.crt", tmp_path / "tls" / "ca.key",
                              tmp_path / "tls" / "todo.local.crt", tmp_path / "tls" / "todo.local.key")
        assert base64.b64decode(secret.data["tls.crt"]) == files.cert.read_bytes()
        assert base64.b64decode(secret.data["tls.key"]) == files.key.read_bytes()
        # the second deploy replaces it in place
        again = tls.prepare_release(api, config, rendered, tmp_path / "tls")
        assert again.secret and again.secret.action == "replaced"
        recorded = json.dumps(to_jsonable({"deploy_tls": again}))
        key_body = files.key.read_text().split("-----")[2].strip().splitlines()[0]
        assert key_body not in recorded and secret.data["tls.key"][:40] not in recorded
        assert str(files.key) not in recorded and "todo-app-ingress-tls" in recorded
        # teardown removes what Helm does not own
        assert tls.delete_release_secrets(api, namespace, config.release) == ["todo-app-ingress-tls"]
        assert not core.list_namespaced_secret(namespace, label_selector="app.kubernetes.io/instance=tlscheck").items
    finally:
        core.delete_namespace(namespace)
        api.close()
