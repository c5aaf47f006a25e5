"""Outgoing mail as plain data, and the exact bytes it becomes on the wire."""
