"""The engine: one asyncio process that starts, supervises and stops the components."""
