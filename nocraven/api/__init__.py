"""The control API: HTTP/1.1 + JSON on a Unix socket (and optionally TCP+TLS for the NOC)."""
