"""ray_cluster.yaml as Ray's cluster launcher takes it: its own preparation and
schema validation, the autoscaling config the local provider needs on the
head, and a sync that keeps the virtualenv, data and caches off the nodes."""

from __future__ import annotations

import copy
import fnmatch
from pathlib import Path

import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

FILE = Path(__file__).resolve().parents[2] / "ray_cluster.yaml"


@pytest.fixture
def config() -> dict:
    return yaml.safe_load(FILE.read_text())


def test_ray_prepares_and_validates_it_as_ray_up_does(config):
    prepared = prepare_config(copy.deepcopy(config))  # the local provider's conversion
    validate_config(prepared)
    node_types = prepared["available_node_types"]
    assert [t["max_workers"] for t in node_types.values()] == [len(config["provider"]["worker_ips"])]


def test_a_broken_file_is_refused(config):
    broken = copy.deepcopy(config)
    broken["setup_commands"] = "pip install ."  # a string where Ray wants a list
    with pytest.raises(Exception):
        validate_config(prepare_config(broken))


def test_the_head_gives_its_autoscaler_the_bootstrap_config(config):
    head = " ".join(config["head_start_ray_commands"])
    assert "--head" in head and "--autoscaling-config=~/ray_bootstrap_config.yaml" in head
    assert all("RAY_AUTH_MODE=token" in c for c in config["head_start_ray_commands"]
               + config["worker_start_ray_commands"] if "ray start" in c)


@pytest.mark.parametrize("path", [".venv/lib/python3.11/site.py", "var/tiering.sqlite",
                                  "ml/__pycache__/x.pyc", ".services/kafka-libs/k.jar",
                                  "tiering.egg-info/PKG-INFO", ".git/HEAD"])
def test_the_sync_leaves_local_state_and_caches_behind(config, path):
    parts = Path(path).parts
    excluded = any(fnmatch.fnmatch(path, pat) or any(fnmatch.fnmatch(p, pat.removeprefix("**/")) for p in parts)
                   for pat in config["rsync_exclude"])
    assert excluded, path


def test_nodes_install_the_extras_the_stack_runs_with(config):
    assert any("[dashboard]" in c for c in config["setup_commands"])
