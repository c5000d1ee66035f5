"""SNMP device polling: interface counters and scalars from the venue's devices."""
