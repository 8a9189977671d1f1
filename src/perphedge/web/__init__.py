"""The web layer: REST API, dashboard and ``/metrics`` over the hedge services (FastAPI)."""
