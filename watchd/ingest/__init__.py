"""Alert ingestion from outside: HTTP (Alertmanager API, events), MQTT, SNMP traps."""
