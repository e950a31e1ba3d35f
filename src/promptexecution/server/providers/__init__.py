"""Model providers: the offline `simulator` and OpenAI-compatible HTTP endpoints."""
