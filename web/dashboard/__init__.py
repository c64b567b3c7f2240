"""The Panel + hvplot operator dashboard (issue 5): store, views, controls, server."""
