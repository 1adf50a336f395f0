"""The Dockerfile, docker-compose.yml and .env.example, checked by parsing.

No Docker engine runs on the development or CI machines, so these files are never run
here. These tests keep them consistent with the code: every command is a real command of
the project with real options, every variable a real setting, every reference resolvable.
"""

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from app.cli import cli
from app.config import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
SETTING_NAMES = {f"WSSS4LUAD_{name.upper()}" for name in Settings.model_fields}


def expand(value: str) -> str:
    """Replace ${VAR:-default} with its default and ${VAR:?message} with a placeholder."""
    value = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)
    return re.sub(r"\$\{[A-Z_]+:\?[^}]*\}", "x", value)


def test_the_stack_has_every_service():
    assert set(SERVICES) == {"postgres", "redis", "migrate", "web", "worker", "gpu-worker", "beat"}


@pytest.mark.parametrize("service", ["migrate", "web", "worker", "gpu-worker", "beat"])
def test_every_command_is_a_real_command_of_the_project(service):
    command = [expand(str(part)) for part in SERVICES[service]["command"]]
    assert command[0] == "wsss4luad"
    result = CliRunner().invoke(cli, [*command[1:], "--help"])
    assert result.exit_code == 0, f"{service}: {command} -> {result.output}"


def test_every_variable_is_a_real_setting():
    used = set()
    for service in SERVICES.values():
        used |= {name for name in service.get("environment", {}) if name.startswith("WSSS4LUAD_")}
    example = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line.startswith("WSSS4LUAD_")
    }
    assert used <= SETTING_NAMES
    assert example == SETTING_NAMES, "the example lists every setting, and only settings"


def test_secrets_have_no_usable_default():
    environment = SERVICES["web"]["environment"]
    assert environment["WSSS4LUAD_SECRET_KEY"].startswith("${WSSS4LUAD_SECRET_KEY:?")
    assert ":?" in SERVICES["postgres"]["environment"]["POSTGRES_PASSWORD"]
    example = (ROOT / ".env.example").read_text()
    assert re.search(r"^WSSS4LUAD_SECRET_KEY=$", example, re.MULTILINE)
    assert re.search(r"^POSTGRES_PASSWORD=$", example, re.MULTILINE)


def test_volumes_and_dependencies_resolve():
    declared = set(COMPOSE["volumes"])
    for name, service in SERVICES.items():
        for mount in service.get("volumes", []):
            assert mount.split(":")[0] in declared, (name, mount)
        for dependency in service.get("depends_on", {}):
            assert dependency in SERVICES, (name, dependency)
    sharing = [name for name, s in SERVICES.items() if "data:/data" in s.get("volumes", [])]
    assert set(sharing) == {"migrate", "web", "worker", "gpu-worker", "beat"}


def test_services_as_the_issue_asks():
    assert "--appendonly" in SERVICES["redis"]["command"]
    assert "noeviction" in SERVICES["redis"]["command"]
    assert "healthcheck" in SERVICES["postgres"] and "healthcheck" in SERVICES["web"]
    devices = SERVICES["gpu-worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    command = SERVICES["web"]["command"]
    trusted = command[command.index("--forwarded-allow-ips") + 1]
    assert trusted != "*" and trusted.endswith("172.28.0.1}")
    assert SERVICES["web"]["ports"] == ["${WEB_BIND:-127.0.0.1}:${WEB_PORT:-8000}:8000"]
    subnet = COMPOSE["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert subnet.endswith("172.28.0.0/16}")
    assert "${WORKER_CONCURRENCY" in " ".join(SERVICES["worker"]["command"])


def test_dockerfile_targets_user_and_lock():
    stages = re.findall(r"^FROM \S+ AS (\S+)$", DOCKERFILE, re.MULTILINE)
    assert {"web", "gpu-worker"} <= set(stages)
    assert "--require-hashes -r /tmp/runtime.lock" in DOCKERFILE
    assert (ROOT / "requirements" / "runtime.lock").is_file()
    for target in ("web", "gpu-worker"):
        stage = DOCKERFILE.split(f"AS {target}\n", 1)[1].split("\nFROM ", 1)[0]
        assert "USER wsss4luad" in stage
        assert "apt-get" not in stage and "gcc" not in stage
    runtime = (ROOT / "requirements" / "runtime.lock").read_text()
    assert "torch" not in runtime, "the web image must not carry torch"
