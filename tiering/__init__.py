"""tiering: event-sourced, ML-assisted storage tiering.

Every package installs under this one name (``tiering.domain``,
``tiering.actors``, ...), so nothing generic lands at the top of
site-packages. In the repository each lives in a top-level folder of its
own (``domain/``, ``actors/``, ...); pyproject's ``package-dir`` maps them.
"""
