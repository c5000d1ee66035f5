"""What every collector shares: fast UDP receive, the channel to the engine, the process harness."""
