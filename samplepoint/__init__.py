"""Shared core of samplepoint: configuration, the durable store, the wire format and the CLI."""

__version__ = "0.1.0"
