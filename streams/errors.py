"""Errors raised by stream processing."""


class StreamError(Exception):
    """Base class for stream-processing errors."""


class UndecodableEvent(StreamError):
    """A message that is not a valid event of its topic; it belongs in the dead-letter topic."""
