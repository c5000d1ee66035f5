"""Helpers shared by the test layers: real engines on temp sockets, the real CLI."""
