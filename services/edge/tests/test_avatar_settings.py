"""EDGE_AVATAR_DIR / EDGE_AVATAR_MODEL: which avatar model /api/config names, and what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from voice_edge.settings import EdgeSettings


def test_no_model_means_the_built_in_head() -> None:
    assert EdgeSettings().avatar_url() is None


def test_a_file_in_the_folder_is_served_under_avatar(tmp_path: Path) -> None:
    settings = EdgeSettings(avatar_dir=tmp_path, avatar_model="our head.glb")
    assert settings.avatar_url() == "/avatar/our%20head.glb"


def test_a_url_is_passed_on() -> None:
    settings = EdgeSettings(avatar_model="https://cdn.example/heads/a.glb")
    assert settings.avatar_url() == "https://cdn.example/heads/a.glb"


@pytest.mark.parametrize(
    ("folder", "model"),
    [(None, "head.glb"), ("missing", "head.glb"), ("here", "../secrets.glb"), ("here", "/etc/head.glb")],
)
def test_a_model_without_a_home_is_refused_at_start(tmp_path: Path, folder: str | None, model: str) -> None:
    avatar_dir = None if folder is None else (tmp_path if folder == "here" else tmp_path / folder)
    with pytest.raises(ValidationError, match="EDGE_AVATAR"):
        EdgeSettings(avatar_dir=avatar_dir, avatar_model=model)
