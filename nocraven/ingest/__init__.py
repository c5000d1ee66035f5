"""The engine side of the collectors: each runs as a child process feeding the buffer."""
