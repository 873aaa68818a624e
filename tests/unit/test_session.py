from todo_runbook import session


def test_first_notebook_starts_a_run_and_the_next_continue_it(tmp_path):
    params = {"outputs_dir": str(tmp_path), "health_requests": 7}
    first = session.start("build", params=params, headless=True)
    assert first.store.run_dir.parent == tmp_path and (tmp_path / "LATEST").read_text().strip() == first.store.run_id
    later = session.start("verify", params={"outputs_dir": str(tmp_path)}, headless=True)
    assert later.store.run_dir == first.store.run_dir
    assert later.config.health_requests == 7  # the run's saved config carries over between kernels
    again = session.start("build", params=params, headless=True)
    assert again.store.run_dir != first.store.run_dir


def test_runner_given_run_dir_is_used_as_is(tmp_path):
    s = session.start("deploy", run_dir=str(tmp_path / "r1"), params={"outputs_dir": str(tmp_path)}, headless=True)
    assert s.store.run_dir == tmp_path / "r1" and not (tmp_path / "r1" / "config.json").exists()


def test_controls_never_appear_headless_and_validate_when_interactive(tmp_path):
    s = session.start("deploy", params={"outputs_dir": str(tmp_path)}, headless=True)
    assert s.controls(["backend_replicas"]) is None
    s.headless = False
    box = s.controls(["backend_replicas", "namespace", "profile"])
    replicas, namespace, profile, message = box.children
    replicas.value = 3
    assert s.config.backend_replicas == 3 and "re-run the next cell" in message.value
    namespace.value = "Not_Valid"
    assert s.config.namespace == "todo" and "not a valid Kubernetes name" in message.value
    assert list(profile.options) == ["dev", "prod"]


def test_the_release_runs_the_database_image_the_build_step_chose(tmp_path):
    s = session.start("build", params={"outputs_dir": str(tmp_path)}, headless=True)
    images = [{"component": "backend", "ref": "todo-backend:b1"}, {"component": "frontend", "ref": "todo-frontend:f1"}]
    s.store.record("build", {"images": images, "database": {"image": "todo-runbook/postgres:15-bookworm"}})
    assert s.built_images() == {"backend": "todo-backend:b1", "frontend": "todo-frontend:f1"}
    assert s.release_images()["postgresql"] == "todo-runbook/postgres:15-bookworm"
    s.store.record("build", {"images": images, "database": {}})  # the prod profile runs no database of its own
    assert "postgresql" not in s.release_images()


def test_only_the_values_that_switch_the_database_on_make_the_build_step_choose_its_image(tmp_path):
    from todo_runbook.build import runs_database
    from todo_runbook.config import RunbookConfig

    assert runs_database(RunbookConfig(profile="dev")) is True
    assert runs_database(RunbookConfig(profile="prod")) is False
    extra = tmp_path / "no-db.yaml"
    extra.write_text("postgresql:\n  enabled: false\n")
    assert runs_database(RunbookConfig(profile="dev", values_files=[str(extra)])) is False
