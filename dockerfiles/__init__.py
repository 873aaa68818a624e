"""The images area: build plans (build_args), building and measuring with the Docker SDK (image_build).

Installed with the project (pyproject.toml) so `todo_runbook.build` and the tests import it by name;
the Dockerfiles, bases/ and engine/ beside it are data, not modules.
"""
