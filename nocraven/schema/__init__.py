"""The wire schema: typed bodies of every API request, response and event.

One module per capability (`buffer.py`, `syslog.py`, ...) plus the engine's own (`engine.py`,
`events.py`). Handlers return these Structs and the API encodes them; `nocraven.client` decodes
into them; the CLI and the console read their attributes. Nothing else spells a field name.
"""
