"""The SNMP trap receiver: v1/v2c traps, INFORMs and SNMPv3."""
