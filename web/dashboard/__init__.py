"""The Panel + hvplot operator dashboard: store, views, controls, server."""
