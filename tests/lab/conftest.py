"""Fixtures for the JupyterLab walkthrough test: Debian's headless Chromium in a fresh Playwright page (the
frontend tests' fixtures)."""

from tests.frontend.conftest import browser_page, chromium_path

__all__ = ["browser_page", "chromium_path"]
