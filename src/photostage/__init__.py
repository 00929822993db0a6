"""photostage: a self-hostable, Claid-compatible product scene service."""

__version__ = "0.1.0"
