"""Network diagnostics a technician trusts: ping, traceroute, DNS, bandwidth, iperf3, port check.

Each tool is an async generator taking a request from `schema` (checked up front by
`schema.problem` / `Request.checked()`, sans-IO, one error line) and yielding typed progress
events, then one summary event. `runner.DiagRunner` runs them as bounded, cancellable jobs.
Codecs and statistics are sans-IO (`icmp`, `stats`, the `HopTable`, `EchoSchedule`,
`ThroughputMeter`, `dns_query.classify`, `iperf.parse_report`, `port_check.summarize_certificate`).
Nothing here runs a shell: probes use sockets, dnspython and httpx; iperf3 is exec'd with a list.
"""
