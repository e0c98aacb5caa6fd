"""docker-compose.yml cannot run here (no Docker engine): check that it parses, that every
service built from this project runs a `returns` subcommand that exists, and that the settings it
passes are ones the service reads."""

from __future__ import annotations

from pathlib import Path

import yaml

from returns_service.cli import build_parser, subcommands
from returns_service.config import Settings
from returns_service.domain import search

ROOT = Path(__file__).parent.parent


def test_compose_file_parses_and_every_project_service_runs_an_existing_command():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    ours = {name: s for name, s in services.items() if s.get("build") == "."}
    assert {"api", "worker", "migrate"} <= set(ours)
    assert (ROOT / "Dockerfile").exists()
    commands = subcommands(build_parser())
    assert {"dev", "api", "worker", "migrate"} <= commands
    settings_fields = {f"RETURNS_{name.upper()}" for name in Settings.model_fields}
    # The standard variable tracing reads (returns_service/tracing.py).
    settings_fields.add("OTEL_EXPORTER_OTLP_ENDPOINT")
    for name, service in ours.items():
        program, subcommand, *_ = service["command"]
        assert program == "returns", name
        assert subcommand in commands, name
        assert set(service["environment"]) <= settings_fields, name
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        assert "image" in service or "build" in service, name
    for name in ("temporal", "returns-db", "api"):
        assert "healthcheck" in services[name], name


def test_the_cluster_registers_every_search_attribute_the_workflow_sets():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert not any("auto-setup" in s.get("image", "") for s in services.values())
    setup = " ".join(services["temporal-setup"]["command"])
    for flag in search.dev_server_flags()[1::2]:  # "ReturnNumber=Keyword", ...
        name, kind = flag.split("=")
        assert f"--name {name} --type {kind}" in setup, name
    for ours in ("worker", "api"):
        assert "temporal-setup" in services[ours]["depends_on"], ours
