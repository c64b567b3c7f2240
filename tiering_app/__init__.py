"""Composition root: settings, wiring and the ``tiering`` CLI."""
