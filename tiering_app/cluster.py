"""Ray wiring: join or start a cluster, and find or create our named actors."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from tiering.config import Settings

NAMESPACE = "tiering"
log = logging.getLogger(__name__)


def ensure_auth_token() -> None:
    """Pin token auth and make sure a token exists before any Ray process starts.

    With RAY_AUTH_MODE=token set explicitly, a fresh ``ray.init`` does not
    create the token file itself and its GCS refuses to start without one.
    """
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    from ray._private.authentication.authentication_token_setup import _get_default_token_path, generate_and_save_token
    from ray._raylet import AuthenticationTokenLoader, Config

    # Ray caches its config at import; make this process see the mode we set.
    Config.initialize("")
    if os.environ["RAY_AUTH_MODE"].lower() != "token" or os.environ.get("RAY_AUTH_TOKEN"):
        return
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or _get_default_token_path())
    if not path.exists():
        generate_and_save_token()
        path.chmod(0o600)
    AuthenticationTokenLoader.instance().reset_cache()


def connect(settings: Settings) -> str:
    """Join ``settings.ray_address``, else a running cluster, else start one.

    Token auth is the default for local clusters in Ray 2.60; the mode must be
    the same for ``ray start`` and for every driver, so we pin it when unset.
    """
    import ray

    ensure_auth_token()
    if ray.is_initialized():
        return "already connected"
    common = dict(namespace=NAMESPACE, log_to_driver=False, logging_level=logging.WARNING)
    if settings.ray_address:
        ray.init(address=settings.ray_address, **common)
        return settings.ray_address
    try:
        ray.init(address="auto", **common)
        return "auto"
    except ConnectionError:
        ray.init(include_dashboard=False, **common)
        return "local"


def ensure_schema(settings: Settings) -> None:
    """Create the event store's tables once, here, before actors race to."""
    from tiering.shards.worker import open_store

    open_store(settings).close()


def shard_handles(settings: Settings, create: bool = True) -> list[Any]:
    import ray

    from tiering.actors.shard import shard_actor_class

    cls = shard_actor_class()
    if create:
        ensure_schema(settings)
    handles = []
    payload = settings.model_dump(mode="json")
    for i in range(settings.shards):
        name = f"shard-{i}"
        if create:
            handles.append(cls.options(name=name, namespace=NAMESPACE, get_if_exists=True)
                           .remote(i, payload, create_tables=False))
        else:
            handles.append(ray.get_actor(name, namespace=NAMESPACE))
    ray.get([h.ping.remote() for h in handles])
    return handles
