"""Where actors and tasks run: spread round-robin over the cluster's live nodes.

Ray's default packs zero-CPU actors onto the driver's node, so a second node
would get no shard, mover or predictor at all. Each gets a *soft* affinity to
one live node in turn (the caller's node first): when that node dies, Ray
restarts the actor wherever it can, and the shard recovers from the event
store. The node list is read when the work is placed, so a node that joins
later takes the next actors and decision tasks placed.
"""

from __future__ import annotations

from typing import Any

# A token CPU share: with no resources at all, Ray's soft node affinity is
# not kept (measured: zero-CPU actors landed on either node at random), with
# any share it is. A node started with no CPUs (a driver's node) gets none.
PLACEMENT_CPUS = 0.001


def live_nodes() -> list[str]:
    """Ids of the live nodes that can run work, the caller's own first when it can."""
    import ray

    here = ray.get_runtime_context().get_node_id()
    usable = sorted(n["NodeID"] for n in ray.nodes()
                    if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) >= PLACEMENT_CPUS)
    return sorted(usable, key=lambda n: n != here)


def spread(count: int, nodes: list[str] | None = None) -> list[dict[str, Any]]:
    """``count`` sets of Ray options, one per actor or task, over the live nodes in turn."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = nodes or live_nodes()
    if not nodes:  # no node with CPUs (yet): Ray's default placement
        return [{} for _ in range(count)]
    return [{"num_cpus": PLACEMENT_CPUS,
             "scheduling_strategy": NodeAffinitySchedulingStrategy(nodes[i % len(nodes)], soft=True)}
            for i in range(count)]


def node_id() -> str | None:
    """The node this actor runs on (None outside Ray): health reports say where work lives."""
    import ray

    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None


def per_node(answers: list[dict[str, Any]]) -> dict[str, int]:
    """How many of the answering actors run on each node (by each answer's ``node``)."""
    counts: dict[str, int] = {}
    for a in answers:
        counts[str(a.get("node"))] = counts.get(str(a.get("node")), 0) + 1
    return counts
