"""Collaboration: protocol messages, the sans-I/O client engine and its adapters."""
