"""watchd: a monitoring and alert-ingestion daemon."""

__version__ = "0.1.0"
