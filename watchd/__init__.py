"""watchd: a monitoring and alert-ingestion daemon (version: the installed package metadata)."""
