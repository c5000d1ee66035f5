"""The flow collector: NetFlow v5/v9, IPFIX and sFlow v5.

`decoder.FlowDecoder` is the sans-IO core a UDP worker calls per datagram (`decoder.decoder_for`
builds one with the `[flow]` limits); `templates` keeps and persists what exporters taught it;
`plan` compiles a template into its record decoder; `netflow` and `sflow` read the wire formats;
`iana` names the elements. The package itself imports nothing, so loading the config stays quick.
"""
