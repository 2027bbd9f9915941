"""Lean HTTP/1.1 on httptools, shared by the layers that speak HTTP themselves: the http
collector's fresh-connection checks (collectors/http_wire.py) and the notification receivers'
keep-alive client (watchd.wire.pool)."""
