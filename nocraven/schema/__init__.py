"""The wire schema: typed bodies of every API request, response and event."""
