"""Reading the YAML policy file (price overrides per tenant and key prefix)."""

from __future__ import annotations

from pathlib import Path

import yaml

from tiering.domain.policy_config import PolicyConfig


def load_policy_file(path: str | Path) -> PolicyConfig:
    """ValueError names the file and the problem."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"{path}: {e}") from None
    try:
        return PolicyConfig.from_dict(data)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def dump_policy(config: PolicyConfig) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False)
