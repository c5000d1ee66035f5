"""Telemetry receivers and their sans-IO decoders; imports nothing from `nocraven`."""
