"""The NoC Raven console: a Textual front end that talks to the engine only through nocraven.client."""
