import pytest

from todo_runbook.config import PROVIDERS, RunbookConfig
from todo_runbook.errors import ConfigError


def test_defaults_are_the_plans_success_criteria():
    c = RunbookConfig.from_sources({}, env={})
    assert (c.max_frontend_image_mb, c.max_backend_image_mb) == (500.0, 300.0)
    assert (c.max_pod_start_s, c.max_deploy_s, c.max_health_p95_ms) == (30.0, 120.0, 500.0)
    assert c.max_failed_requests_rolling == 0
    assert c.provider == "auto" and c.ingress_host == "todo.local"


def test_misspelled_parameter_names_it_the_closest_and_the_choices():
    with pytest.raises(ConfigError) as err:
        RunbookConfig.from_sources({"provder": "kind"}, env={})
    text = str(err.value)
    assert "unknown parameter 'provder'" in text
    assert "Did you mean 'provider'?" in text
    assert "health_requests" in err.value.remedy and "namespace" in err.value.remedy


def test_unknown_provider_lists_the_valid_ones():
    with pytest.raises(ConfigError) as err:
        RunbookConfig.from_sources({"provider": "minkube"}, env={})
    assert "'minkube'" in err.value.problem and "Did you mean 'minikube'?" in err.value.problem
    for provider in PROVIDERS:
        assert provider in err.value.remedy


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("health_requests", "50", 50), ("max_deploy_s", "90.5", 90.5), ("rolling_update", "false", False),
    ("kill_pod", "yes", True), ("aiops_tools", "kagent, docker-ai", ["kagent", "docker-ai"]),
])
def test_strings_from_the_command_line_are_converted(name, value, expected):
    assert getattr(RunbookConfig.from_sources({name: value}, env={}), name) == expected


@pytest.mark.parametrize(("name", "value"), [
    ("health_requests", "many"), ("health_requests", 2.5), ("rolling_update", "maybe"), ("max_deploy_s", True),
])
def test_mistyped_values_are_rejected_with_the_expected_type(name, value):
    with pytest.raises(ConfigError) as err:
        RunbookConfig.from_sources({name: value}, env={})
    assert name in err.value.problem and "should be" in err.value.problem


def test_environment_is_read_and_parameters_win():
    env = {"TODO_RUNBOOK_NAMESPACE": "from-env", "TODO_RUNBOOK_RELEASE": "envrel", "TODO_RUNBOOK_CACHE": "/x"}
    c = RunbookConfig.from_sources({"release": "paramrel"}, env=env)
    assert c.namespace == "from-env" and c.release == "paramrel"


def test_a_near_miss_in_the_environment_is_a_typo():
    with pytest.raises(ConfigError, match="namespce"):
        RunbookConfig.from_sources({}, env={"TODO_RUNBOOK_NAMESPCE": "x"})


def test_unrelated_environment_variables_are_ignored():
    assert RunbookConfig.from_sources({}, env={"TODO_RUNBOOK_SOMETHING_ELSE": "1"}).namespace == "todo"


@pytest.mark.parametrize("bad", ["Todo", "todo_app", "-todo", "x" * 60])
def test_namespace_must_be_a_kubernetes_name(bad):
    with pytest.raises(ConfigError, match="not a valid Kubernetes name"):
        RunbookConfig.from_sources({"namespace": bad}, env={})


def test_unknown_ai_tool_and_bad_thresholds_are_rejected():
    with pytest.raises(ConfigError, match="aiops_tools"):
        RunbookConfig.from_sources({"aiops_tools": "kubectl-ai,gpt"}, env={})
    with pytest.raises(ConfigError, match="negative"):
        RunbookConfig.from_sources({"max_pod_start_s": -1}, env={})
    with pytest.raises(ConfigError, match="at least 1"):
        RunbookConfig.from_sources({"backend_replicas": 0}, env={})


def test_saved_config_round_trips_and_changed_lists_only_differences(tmp_path):
    c = RunbookConfig.from_sources({"provider": "kind", "health_requests": 10}, env={})
    c.save(tmp_path / "config.json")
    import json

    again = RunbookConfig.from_sources({}, env={}, saved=json.loads((tmp_path / "config.json").read_text()))
    assert again == c
    assert c.changed() == {"provider": "kind", "health_requests": 10}


def test_profile_selects_the_charts_values_file():
    files = RunbookConfig.from_sources({"profile": "prod", "values_files": "extra.yaml"}, env={}).profile_values_files()
    assert files[0].name == "values-prod.yaml" and files[1].name == "extra.yaml"
