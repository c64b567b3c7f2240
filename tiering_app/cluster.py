"""Ray wiring: join or start a cluster, and find or create our named actors."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any

from tiering.config import Settings
from tiering.domain.instance import namespace_of

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


def open_instance(settings: Settings) -> Settings:
    """Make the event store's schema (once, here, before actors race to) and
    read this deployment's id from it; the settings every actor gets carry it."""
    from tiering.shards.worker import open_store

    app = open_store(settings)
    try:
        return settings.model_copy(update={"instance_id": app.instance_id()})
    finally:
        app.close()


def connect(settings: Settings) -> str:
    """Start a Ray of this stack's own, or join ``settings.ray_address`` when told to.

    Never a cluster found by looking around: another stack's Ray on this host
    is not ours to join. Either way our actors live in our instance's own
    namespace. Token auth is the default for local clusters in Ray 2.60; the
    mode must be the same for ``ray start`` and for every driver, so we pin it
    when unset.
    """
    import ray

    if settings.instance_id is None:
        raise ValueError("connect needs the instance id: call open_instance first")
    ensure_auth_token()
    if ray.is_initialized():
        return "already connected"
    from tiering.adapters.logs import worker_runtime_env

    # Every worker logs as the launch does, naming its actor; the driver
    # prints their lines with its own, from every node.
    common = dict(namespace=namespace_of(settings.instance_id), log_to_driver=True,
                  logging_level=logging.WARNING,
                  runtime_env=worker_runtime_env(settings.log_level, settings.log_format))
    if settings.ray_address and settings.ray_address != "local":
        check_reachable(settings.ray_address)
        ray.init(address=settings.ray_address, **common)
        return f"joined {settings.ray_address}"
    # "local", not None: Ray itself would otherwise take RAY_ADDRESS or the
    # cluster `ray start` last made on this host.
    ray.init(address="local", include_dashboard=False, **common)
    return "local"


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """ConnectionError at once if nothing listens at a host:port address: Ray
    itself would go on retrying its GCS for minutes. ``auto`` and Ray Client
    addresses (``ray://``) are left to Ray."""
    if address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout_s).close()
    except (OSError, ValueError) as e:
        raise ConnectionError(f"nothing answers at {address!r} ({e}); "
                              "give the head's host:port, as `ray start --head` printed it") from None


class ForeignActor(RuntimeError):
    """A named actor in our namespace that belongs to another instance."""


def check_ours(handles: list[Any], settings: Settings) -> None:
    """Refuse actors found by name that another instance made: their state
    and the store they write are not ours."""
    import ray

    found = ray.get([h.instance.remote() for h in handles])
    for got in found:
        if got != settings.instance_id:
            raise ForeignActor(f"an actor of instance {got} holds one of our names "
                               f"(this is instance {settings.instance_id}); refusing to adopt it")


def shard_handles(settings: Settings, create: bool = True) -> list[Any]:
    import ray

    from tiering.actors.shard import shard_actor_class
    from tiering.adapters.ray_spread import spread

    cls = shard_actor_class()
    handles = []
    payload = settings.model_dump(mode="json")
    places = spread(settings.shards) if create else []
    for i in range(settings.shards):
        name = f"shard-{i}"
        if create:
            handles.append(cls.options(name=name, get_if_exists=True, **places[i])
                           .remote(i, payload, create_tables=False))
        else:
            handles.append(ray.get_actor(name))
    check_ours(handles, settings)
    return handles
