"""A named model endpoint is asked for its models (GET /models) before any agent starts.

The server is the project's real offline operations model (OpsModelServer) on loopback, which serves
an OpenAI-style /models list like vLLM, Ollama's /v1 or LiteLLM do.
"""

from __future__ import annotations

import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

from todo_runbook import aimodel
from todo_runbook.config import RunbookConfig
from todo_runbook.opsmodel import OpsModelServer
from todo_runbook.opsrules import OFFLINE_MODEL


def _choose(monkeypatch, **params):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return aimodel.choose(RunbookConfig.from_sources({"aiops_llm_provider": "openai", **params}, env={}))


def test_a_model_the_endpoint_does_not_serve_is_named_with_the_ones_it_offers(monkeypatch):
    with OpsModelServer() as server:
        choice = _choose(monkeypatch, aiops_model="gpt-4o-mini", aiops_llm_base_url=server.base_url)
    assert choice.endpoint is None and not choice.offline
    assert choice.problem == (f"aiops_model 'gpt-4o-mini' is not served at {server.base_url} "
                              f"(its /models offers: {OFFLINE_MODEL})")
    assert f"set -p aiops_model to one of: {OFFLINE_MODEL}" in choice.remedy


def test_a_model_the_endpoint_serves_is_used(monkeypatch):
    with OpsModelServer() as server:
        choice = _choose(monkeypatch, aiops_model=OFFLINE_MODEL, aiops_llm_base_url=server.base_url)
    assert choice.problem == "" and choice.endpoint is not None
    assert (choice.endpoint.model, choice.endpoint.base_url) == (OFFLINE_MODEL, server.base_url)


def test_the_probe_reads_the_list_and_tells_a_dead_url_from_a_live_one(tmp_path):
    with OpsModelServer() as server:
        live = aimodel.probe_endpoint(server.base_url)
    assert live == aimodel.EndpointProbe("", [OFFLINE_MODEL])
    dead = aimodel.probe_endpoint(server.base_url, timeout_s=2)  # stopped: nothing listens there now
    assert dead.problem and dead.models is None
    # a plain file server answers 404 at /models: a server is there, but it offers no list to check against
    files = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(tmp_path)))
    threading.Thread(target=files.serve_forever, daemon=True).start()
    try:
        no_list = aimodel.probe_endpoint(f"http://127.0.0.1:{files.server_address[1]}/v1")
    finally:
        files.shutdown()
        files.server_close()
    assert no_list == aimodel.EndpointProbe("", None)


def test_ollamas_latest_tag_counts_as_the_bare_name():
    assert aimodel.served("llama3.1", ["llama3.1:latest", "qwen2.5:7b"])
    assert aimodel.served("qwen2.5:7b", ["llama3.1:latest", "qwen2.5:7b"])
    assert not aimodel.served("llama3", ["llama3.1:latest"])
