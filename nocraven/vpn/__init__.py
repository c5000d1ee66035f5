"""The VPN manager: OpenVPN profiles checked before launch, supervised, failing over in seconds.

profile.py / validate.py (the `.ovpn` file and its certificates), store.py (profiles on disk),
management.py (openvpn's management protocol), policy.py (which profile to run, sans-IO),
supervisor.py (the asyncio glue running openvpn), settings.py (the `[vpn]` config section).
"""
