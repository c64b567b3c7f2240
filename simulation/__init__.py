"""Replay for evaluation: a trace through the live domain and shard code on an
in-memory event store, then every policy priced on what it recorded
(``tiering evaluate``, what-if jobs) or a model trained on it (retraining).
It sits above both ``ml`` (the policies, the learning) and ``actors`` (the
shards it replays through)."""
