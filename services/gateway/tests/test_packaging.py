"""The gateway's wheel (what `pip install ./services/gateway` puts in an image) holds every Django app it runs."""

import tomllib
from pathlib import Path

from django.conf import settings

GATEWAY = Path(__file__).resolve().parents[1]


def test_every_installed_app_of_ours_is_packaged():
    pyproject = tomllib.loads((GATEWAY / "pyproject.toml").read_text())
    packaged = set(pyproject["tool"]["setuptools"]["packages"]["find"]["include"])
    ours = [app for app in settings.INSTALLED_APPS if (GATEWAY / app.split(".")[0]).is_dir()]
    missing = [app for app in ours if app not in packaged or f"{app}.*" not in packaged]
    assert ours and missing == [], f"add to services/gateway/pyproject.toml's packages: {missing}"
