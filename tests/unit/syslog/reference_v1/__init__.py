"""Frozen pre-optimisation syslog parser: the byte-identical reference (see parse.py header)."""
