"""HTTP routes of the v2.1 API, one module per area."""
