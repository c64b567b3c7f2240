"""The service layer: the product's use cases, called by the REST routers,
the CLI and the dashboard alike.

Each use case takes plain values and returns plain values; it talks to the
rest of the system through ports (shards, object store, decision bus, job
runner) handed to it by the composition root, so its tests run on fakes with
no Ray and no I/O. Failures are the exceptions in ``services.errors``; the
web layer maps them to HTTP in one place.

Reads of the estate (objects, moves, decisions, metrics) are queries on the
read models and do not pass through here.
"""
