"""Benchmarks of the self-hosted server (not collected by pytest; see README.md here)."""
