"""values.schema.json rejects bad values with a message that names the offending key, before anything renders."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.chart.chart_tools import CHART, EXTERNAL_DB, Helm

BAD_VALUES = sorted((Path(__file__).parent / "bad-values").glob("*.yaml"))


def expected_fragments(path: Path) -> list[str]:
    return re.findall(r"^# expect: (.+)$", path.read_text(), re.M)


@pytest.mark.parametrize("values_file", BAD_VALUES, ids=[p.stem for p in BAD_VALUES])
def test_schema_rejects_bad_values(helm: Helm, values_file: Path) -> None:
    fragments = expected_fragments(values_file)
    assert fragments, f"{values_file.name} names no '# expect:' fragment"
    result = helm.template(values_files=[str(values_file)], sets=EXTERNAL_DB, check=False)
    assert result.returncode != 0, f"{values_file.name} was accepted"
    message = result.stderr
    assert "schema" in message.lower(), f"rejected, but not by the schema: {message}"
    for fragment in fragments:
        assert fragment.lower() in message.lower(), f"{values_file.name}: {fragment!r} missing from:\n{message}"


def test_schema_closes_the_top_level() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False


def test_every_values_yaml_key_is_declared_in_the_schema() -> None:
    """A key in values.yaml that the schema does not know would be rejected by its own chart."""
    schema = json.loads((CHART / "values.schema.json").read_text())

    def walk(values: dict, node: dict, path: str) -> list[str]:
        missing = []
        for key, value in values.items():
            child = node.get("properties", {}).get(key)
            if child is None:
                if node.get("additionalProperties") is False:
                    missing.append(f"{path}{key}")
                continue
            if isinstance(value, dict) and value and "properties" in child:
                missing += walk(value, child, f"{path}{key}.")
        return missing

    for name in ("values.yaml", "values-dev.yaml", "values-prod.yaml"):
        values = yaml.safe_load((CHART / name).read_text())
        assert walk(values, schema, "") == [], f"{name} has keys the schema rejects"
