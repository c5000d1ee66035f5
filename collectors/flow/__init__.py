"""The flow collector: NetFlow v5/v9, IPFIX and sFlow v5."""
