"""Port management: the registry of every listener, checks for a change, live rebinding, and
writing the change back to the config file."""
