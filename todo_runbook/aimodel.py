"""Which model the agents use: the offline operations model (default) or a real one the user names.

aiops_llm_provider=offline (default) serves the rules of opsrules.py on loopback. Any other provider
needs aiops_model, and its key in the environment (never in a parameter, evidence or log):
openai (also any OpenAI-compatible server via aiops_llm_base_url, e.g. Ollama's or vLLM's /v1),
anthropic, gemini, ollama. A named base URL is asked for its /models first: a server that does not
answer, or does not serve aiops_model, is found before any agent starts. A problem with the choice is
a clear line, not a traceback.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass

from .config import RunbookConfig
from .kagent_runtime import ModelEndpoint
from .opsrules import OFFLINE_LABEL, OFFLINE_MODEL

PROVIDERS = ("offline", "openai", "anthropic", "gemini", "ollama")
KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "gemini": "GOOGLE_API_KEY", "ollama": ""}
# Ollama's OpenAI-compatible API lives under /v1; its native API (which kagent's Ollama model uses) at the root.


@dataclass
class ModelChoice:
    endpoint: ModelEndpoint | None  # None: nothing usable; `problem` says why
    offline: bool
    problem: str = ""
    remedy: str = ""


@dataclass
class EndpointProbe:
    problem: str  # empty when something answered HTTP at base_url/models
    models: list[str] | None = None  # the ids its OpenAI-style /models lists; None: no readable list (401, 404...)


def probe_endpoint(base_url: str, key_env: str = "", timeout_s: float = 5) -> EndpointProbe:
    """GET base_url/models, as OpenAI-compatible servers (vLLM, Ollama's /v1, LiteLLM...) serve it."""
    request = urllib.request.Request(base_url.rstrip("/") + "/models")
    if key_env and os.environ.get(key_env):
        request.add_header("Authorization", f"Bearer {os.environ[key_env]}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = response.read()
    except urllib.error.HTTPError:
        return EndpointProbe("")  # it answered (401/404 still prove a server is there)
    except (OSError, ValueError) as exc:
        return EndpointProbe(f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}")
    try:
        data = json.loads(body).get("data")
        return EndpointProbe("", [str(m["id"]) for m in data if isinstance(m, dict) and m.get("id")])
    except (ValueError, AttributeError, TypeError):
        return EndpointProbe("")  # a server, but not an OpenAI-style list: nothing to check the name against


def served(model: str, offered: list[str]) -> bool:
    """Ollama lists `llama3.1:latest` and serves it as `llama3.1` too."""
    return model in offered or f"{model}:latest" in offered


def choose(config: RunbookConfig, offline_base_url: str = "") -> ModelChoice:
    provider = (config.aiops_llm_provider or "offline").strip().lower()
    if provider not in PROVIDERS:
        return ModelChoice(None, False, f"unknown model provider '{provider}'",
                           f"set -p aiops_llm_provider to one of: {', '.join(PROVIDERS)}")
    if provider == "offline":
        return ModelChoice(ModelEndpoint("openai", OFFLINE_MODEL, offline_base_url, OFFLINE_LABEL), True)
    if not config.aiops_model.strip():
        return ModelChoice(None, False, f"provider '{provider}' needs a model name",
                           "set -p aiops_model=NAME (e.g. gpt-4o-mini, claude-sonnet-4-5, llama3.1)")
    key_env = KEY_ENV[provider]
    if provider == "gemini" and not os.environ.get(key_env) and os.environ.get("GEMINI_API_KEY"):
        key_env = "GEMINI_API_KEY"  # kagent's Gemini model reads either
    base_url = config.aiops_llm_base_url.strip()
    if key_env and not os.environ.get(key_env) and not (provider == "openai" and base_url):
        return ModelChoice(None, False, f"provider '{provider}' needs its key in ${key_env}, which is not set",
                           f"export {key_env}=... before starting the runbook (keys are read only from the "
                           "environment), or use -p aiops_llm_provider=offline")
    if provider == "ollama" and not base_url:
        base_url = os.environ.get("OLLAMA_API_BASE", "http://127.0.0.1:11434")
    if base_url:
        probe = probe_endpoint(base_url if provider != "ollama" else base_url.rstrip("/") + "/v1", key_env)
        if probe.problem:
            return ModelChoice(None, False, f"the model endpoint {base_url} does not answer ({probe.problem})",
                               "start the model server or fix -p aiops_llm_base_url; "
                               "-p aiops_llm_provider=offline needs no server")
        if probe.models is not None and not served(config.aiops_model.strip(), probe.models):
            offered = ", ".join(probe.models[:12]) + (" …" if len(probe.models) > 12 else "") or "none"
            return ModelChoice(None, False, f"aiops_model '{config.aiops_model}' is not served at {base_url} "
                                            f"(its /models offers: {offered})",
                               f"set -p aiops_model to one of: {offered}; or load '{config.aiops_model}' into "
                               f"that server (Ollama: `ollama pull {config.aiops_model}`)")
    label = f"model: {provider} {config.aiops_model}" + (f" at {base_url}" if base_url else "")
    return ModelChoice(ModelEndpoint(provider, config.aiops_model, base_url, label, key_env), False)
