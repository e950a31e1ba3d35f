"""What every area stands on: errors, HTTP helpers, middleware, accounts and keys, plans and
rate limits, idempotency, clock, config."""
