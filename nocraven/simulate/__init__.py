"""A simulated venue for the demo: devices that send telemetry to the engine on loopback."""
