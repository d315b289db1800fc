"""deploy/compose.yaml validates with compose-spec (PyPI bindings of the Rust compose_spec
crate: the Compose Specification's types, enum values and durations; unknown keys are
errors), and its services agree with each other and with the streamfeat CLI."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import compose_spec
import pytest

from tests.deploy._cli import check_command_line

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "deploy" / "compose.yaml"


def parse(text: str) -> compose_spec.PyCompose:
    """Parse and validate like `docker compose config` would (YAML merge keys applied)."""
    compose = compose_spec.PyOptions(apply_merge=True).from_yaml(text)
    compose.validate()
    compose.to_spec()  # the pydantic model of the whole specification
    return compose


@pytest.fixture(scope="module")
def services() -> dict[str, dict]:
    return parse(COMPOSE.read_text()).to_dict()["services"]


def test_compose_file_validates():
    compose = parse(COMPOSE.read_text())
    assert set(compose.service_names()) == {"kafka", "redis", "setup", "dataflow-0", "dataflow-1", "feature-server"}


@pytest.mark.parametrize(
    "text",
    [
        "services:\n  a:\n    imagee: redis\n",  # misspelt key
        "services:\n  a:\n    image: redis\n    restart: sometimes\n",  # bad enum value
        # bad duration
        "services:\n  a:\n    image: redis\n    healthcheck: {test: [CMD, 'true'], interval: fivesec}\n",
        "services:\n  a:\n    image: redis\n    ports: 5\n",  # wrong type
    ],
    ids=["unknown-key", "restart-value", "duration", "ports-type"],
)
def test_the_validator_rejects_bad_compose_files(text):
    with pytest.raises(ValueError):
        parse(text)


def test_references_resolve(services):
    """What compose-spec does not check: depends_on targets and named volumes exist."""
    declared_volumes = set(parse(COMPOSE.read_text()).to_dict().get("volumes", {}))
    for name, service in services.items():
        for target in service.get("depends_on", {}):
            assert target in services, f"{name} depends on unknown service {target}"
        for volume in service.get("volumes", []):
            source = (volume["source"] if isinstance(volume, dict) else volume.split(":", 1)[0])
            if not source.startswith((".", "/")):
                assert source in declared_volumes, f"{name} mounts undeclared volume {source}"


def _flag(args: list[str], name: str) -> str:
    for arg in args:
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"{name}= missing from {args}")


def test_dataflow_is_one_cluster_of_two_processes(services):
    members = {name: s for name, s in services.items() if name.startswith("dataflow-")}
    assert len(members) == 2
    addresses = {_flag(s["command"], "--addresses") for s in members.values()}
    assert len(addresses) == 1, "every process must get the same address list"
    hosts = [a.rsplit(":", 1)[0] for a in addresses.pop().split(";")]
    process_ids = {name: int(_flag(s["command"], "--process-id")) for name, s in members.items()}
    for name, pid in process_ids.items():
        assert hosts[pid] == name == members[name]["hostname"], "address i must reach the process with -i i"
    state_volumes = set()
    for name, service in members.items():
        state_dir = _flag(service["command"], "--state-dir")
        (volume,) = [v for v in service["volumes"] if v.endswith(f":{state_dir}")]
        state_volumes.add(volume.split(":", 1)[0])
        assert service["restart"] == "unless-stopped", "a member exits when its peer dies; it must come back"
        assert service["depends_on"]["setup"]["condition"] == "service_completed_successfully"
    assert len(state_volumes) == 2, "each process keeps its partitions' state in its own volume"
    setup = " ".join(services["setup"]["command"])
    assert "--partitions 4" in setup and "--key-field user_id" in setup


def test_every_streamfeat_command_line_parses(services):
    commands = []
    for name, service in services.items():
        command = service.get("command")
        if not command or name in {"kafka", "redis"}:
            continue
        if service.get("entrypoint") == ["/bin/sh", "-c"]:
            (script,) = command
            for line in re.findall(r"\bstreamfeat\s+([^;&|]+)", script):
                commands.append(check_command_line(shlex.split(line), name).command)
        else:
            commands.append(check_command_line(command, name).command)
    assert sorted(commands) == ["generate", "produce", "run", "run", "serve"]
