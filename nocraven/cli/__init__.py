"""The `nocraven` CLI: typer sub-apps, one module per noun, all through nocraven.client."""
