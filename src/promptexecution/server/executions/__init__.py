"""Executions: running one (the service), streaming it, storing it, and reading history back."""
