"""Batch webhooks: signed deliveries (sender), the log of every attempt (store, routes)."""
