"""The forwarder: buffer -> sinks (NATS JetStream, HTTP NDJSON, syslog over TLS), at least once,
live first. Sans-IO cores (`batching`, `lanes`, `schedule`, `health`, `gaps`), sinks behind one
small interface (`sinks.base`), and the asyncio loop per sink (`forwarder`)."""
