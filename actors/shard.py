"""The shard as a Ray actor: ``ShardWorker`` (``shards.worker``), restartable.

The actor keeps nothing the event store does not: a restarted shard reloads
objects from their logs as they are touched.
"""

from __future__ import annotations

import logging
from typing import Any

from tiering.adapters.ray_spread import node_id
from tiering.shards.worker import ShardWorker, relax_gc

log = logging.getLogger(__name__)


def shard_actor_class():
    """The Ray actor class, built lazily so importing this module needs no Ray."""
    import ray

    class ShardActor(ShardWorker):
        def __init__(self, *args: Any, **kwargs: Any):
            relax_gc()
            super().__init__(*args, **kwargs)
            log.info("shard %d ready on node %s", self.index, node_id())

        def where(self) -> dict[str, Any]:
            """This shard's index and the node it runs on (after a node dies, another)."""
            return {"index": self.index, "node": node_id()}

    return ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)(ShardActor)
