"""docs/configuration.md lists every setting with its variable and attribute; the README's rows agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from neo_service_layer.config import Settings
from neo_service_layer.config.flat import flat_settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "configuration.md"


def _rows(doc: Path) -> list[tuple[str, str]]:
    """(flat name, attribute) of each ``| `NSL_X` | `settings.y` |`` table row of ``doc``."""
    rows = re.findall(r"^\| `NSL_([A-Z0-9_]+)` \| `settings\.([a-z0-9_.]+)` \|", doc.read_text(), flags=re.M)
    return [(name.lower(), attribute) for name, attribute in rows]


def _actual() -> dict[str, str]:
    return {flat: ".".join(setting.path) for flat, setting in flat_settings(Settings).items()}


def test_the_docs_list_every_setting_once() -> None:
    rows = _rows(DOCS)
    assert len(rows) == len(dict(rows)), "a setting is listed twice"
    assert dict(rows) == _actual()


def test_the_readme_knobs_name_their_attributes_right() -> None:
    knobs = _rows(ROOT / "README.md")
    assert knobs
    assert [(flat, _actual().get(flat)) for flat, _ in knobs] == knobs


def test_the_docs_toml_example_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    example = re.search(r"```toml\n(.*?)```", DOCS.read_text(), flags=re.S)
    assert example is not None
    config = tmp_path / "nsl.toml"
    config.write_text(example.group(1))
    monkeypatch.setenv("NSL_CONFIG_FILE", str(config))
    settings = Settings.load()
    assert settings.evm.confirmations == 2
    assert (settings.jobs.max_attempts, settings.jobs.worker_concurrency) == (5, 8)
    assert settings.rate_limits.key_burst == 200
