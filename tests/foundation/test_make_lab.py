"""`make lab` serves the notebooks for whoever runs it, root included: JupyterLab refuses root unless told, and CI
runs this as root, so a server that answers here proves the root case."""

from __future__ import annotations

import time
import urllib.request

from tests.support.lab import make_lab


def test_make_lab_serves_the_notebooks_and_prints_its_url() -> None:
    with make_lab(timeout=120) as lab:
        assert lab.base.endswith(f":{lab.port}"), lab.base
        listing = ""
        for _ in range(20):  # the URL is logged as the server starts listening; give it a moment
            try:
                with urllib.request.urlopen(f"{lab.base}/api/contents?token={lab.token}", timeout=30) as answer:
                    listing = answer.read().decode()
                break
            except OSError:
                time.sleep(1)
        assert "01-build.ipynb" in listing and "06-teardown.ipynb" in listing
