"""The README and the deployment files say what the code does: generated parts match, names do not collide."""

from __future__ import annotations

import importlib.util
import re
import subprocess

import yaml

from deployments.definitions import FLOW_NAMES, prefect_yaml_text, served
from tests.deploy.support import PROJECT_ROOT

MACHINE_PATH = re.compile(r"/(?:work|tmp|home|root)/")
"""Absolute paths of a particular machine, which a newcomer's checkout will not have."""


def _settings_table_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("settings_table", PROJECT_ROOT / "docs" / "settings_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_settings_table_is_generated_from_the_settings() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert _settings_table_module().block() in readme, "run: .venv/bin/python docs/settings_table.py --write"


def test_readme_keeps_the_two_commands_and_the_screenshot() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert "make demo" in readme
    assert "\nmake test\n" in readme
    assert "(docs/failed-run.png)" in readme
    assert (PROJECT_ROOT / "docs" / "failed-run.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_prefect_yaml_is_generated_from_the_deployment_definitions() -> None:
    text = (PROJECT_ROOT / "prefect.yaml").read_text()
    assert text == prefect_yaml_text(), "run: .venv/bin/python -m deployments.definitions --write"


def test_serve_builds_the_same_deployments_as_the_definitions() -> None:
    from deployments.serve import ServeOptions, build_deployments

    built = build_deployments(ServeOptions(interval_seconds=60, limit=3))
    assert [(d.flow_name, d.name) for d in built] == [(d.flow, d.name) for d in served()]
    for deployment, definition in zip(built, served(), strict=True):
        assert deployment.description == definition.description
        assert deployment.entrypoint is not None and deployment.entrypoint.endswith(definition.entrypoint)
        assert bool(deployment.schedules) == definition.scheduled
        assert (deployment.concurrency_limit is not None) == definition.served_limit, definition.name
    without = build_deployments(ServeOptions(schedule=False))
    assert not any(d.schedules for d in without) and len(without) == len(built) - 1


def test_deployment_names_say_what_they_are_for_and_never_collide() -> None:
    config = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())
    deployments = config["deployments"]
    pool_names = [d["name"] for d in deployments]
    served_names = [d.name for d in served()]
    assert len(set(served_names)) == len(served_names), "every served deployment has a name of its own"
    assert len(set(pool_names)) == len(pool_names)
    assert not set(pool_names) & set(served_names), "served and pool deployments must not collide"
    flows = {d["entrypoint"].rsplit(":", 1)[1].replace("_", "-") for d in deployments}
    assert set(FLOW_NAMES) <= flows
    (sweep,) = [d for d in deployments if d.get("schedules")]
    assert sweep["entrypoint"].endswith(":reconcile")
    assert "concurrency_limit" not in sweep, "a slot only a live process frees must not gate the schedule"
    for deployment in deployments:
        assert (PROJECT_ROOT / deployment["entrypoint"].split(":")[0]).is_file()
        assert deployment["work_pool"]["name"] == "ecsync"
        limit = deployment.get("concurrency_limit")
        assert limit is None or limit["collision_strategy"] == "ENQUEUE"
    assert "set_working_directory" in str(config["pull"])


def test_no_machine_paths_in_tracked_files() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False).stdout.split()
    owned = ("README.md", "prefect.", "deployments/", "docs/", "ecsync/cli.py", "ecsync/demo.py", "tests/deploy/")
    mine = [p for p in tracked if p.startswith(owned) and p != "tests/deploy/test_readme.py"]
    assert "README.md" in mine
    for name in mine:
        path = PROJECT_ROOT / name
        if path.suffix == ".png" or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        found = MACHINE_PATH.search(text)
        assert found is None, f"{name} names a machine path ({found.group(0) if found else ''})"
