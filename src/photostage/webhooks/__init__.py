"""Webhooks of finished jobs: signed deliveries through the SSRF guard, with retries."""
