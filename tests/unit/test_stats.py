import random

import numpy as np
import pytest

from todo_runbook.stats import parse_cpu, parse_memory, percentile, summarize


@pytest.mark.parametrize("pct", [0, 1, 50, 90, 95, 99, 100])
def test_percentile_matches_numpy_linear(pct):
    rng = random.Random(pct)
    values = [rng.lognormvariate(2, 0.7) for _ in range(537)]
    assert percentile(values, pct) == pytest.approx(float(np.percentile(values, pct)))


def test_percentile_small_samples_and_errors():
    assert percentile([5], 99) == 5
    assert percentile([1, 2], 50) == 1.5
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1], 101)


def test_summarize_orders_the_percentiles():
    s = summarize([float(i) for i in range(1, 101)])
    assert s.count == 100 and s.minimum == 1 and s.maximum == 100
    assert s.p50 <= s.p95 <= s.p99 <= s.maximum
    assert s.p95 == pytest.approx(95.05)


@pytest.mark.parametrize(("text", "cores"), [("250m", 0.25), ("1", 1.0), ("2.5", 2.5), ("4812345n", 0.004812345),
                                             ("100u", 0.0001), (None, None)])
def test_cpu_quantities(text, cores):
    assert parse_cpu(text) == (pytest.approx(cores) if cores is not None else None)


@pytest.mark.parametrize(("text", "size"), [("128Mi", 128 * 2**20), ("1Gi", 2**30), ("500M", 5e8), ("1024", 1024),
                                            ("64Ki", 65536), ("", None)])
def test_memory_quantities(text, size):
    assert parse_memory(text) == size
