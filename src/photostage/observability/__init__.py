"""Metrics (Prometheus), structured logs and the request id every log line of a request carries."""
