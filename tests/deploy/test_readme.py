"""The README and the deployment files say what the code does: generated parts match, names do not collide."""

from __future__ import annotations

import importlib.util
import re
import subprocess

import yaml

from deployments.serve import FLOW_NAMES, POOL_NAME, SCHEDULE_SUFFIX, SERVED_NAME
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


def test_prefect_yaml_has_the_four_flows_for_a_work_pool() -> None:
    config = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())
    deployments = config["deployments"]
    on_demand = [d for d in deployments if d["name"] == POOL_NAME]
    flows = [d["entrypoint"].rsplit(":", 1)[1].replace("_", "-") for d in on_demand]
    assert sorted(flows) == sorted(FLOW_NAMES)
    for deployment in on_demand:
        assert deployment["concurrency_limit"]["collision_strategy"] == "ENQUEUE"
        assert not deployment.get("schedules")
    (sweep,) = [d for d in deployments if d["name"] == POOL_NAME + SCHEDULE_SUFFIX]
    assert sweep["entrypoint"].endswith(":reconcile") and sweep["schedules"]
    assert sweep["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
    for deployment in deployments:
        assert not deployment["name"].startswith(SERVED_NAME), "served and pool deployments must not collide"
        assert (PROJECT_ROOT / deployment["entrypoint"].split(":")[0]).is_file()
        assert deployment["work_pool"]["name"] == "ecsync"
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
