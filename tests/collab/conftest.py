"""The real-server fixtures of tests/server (a ``python -m server`` subprocess), reused here."""

from tests.server.conftest import ServerFactory, ServerProcess, server_proc, shared_server

__all__ = ["ServerFactory", "ServerProcess", "server_proc", "shared_server"]
