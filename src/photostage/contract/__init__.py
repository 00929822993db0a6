"""Pydantic models of the wire contract (Claid `POST /v1/scene/create`): requests, responses, errors."""
