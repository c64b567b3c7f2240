"""Ports to the outside world (object store, decision bus) and their adapters.

The ports are small protocols that movers, shards and the API depend on; the
adapters (``s3``, ``bus_kafka``, ``bus_inprocess``) are chosen from settings by
``tiering.app.moves_runtime``.
"""
