"""Command-log replay for debugging: any version of any session, checked, diffed, rendered.

``log`` reads a session's history (server store or exported JSON lines),
``replay`` rebuilds and checks scenes through :func:`optiverse.commands.apply`,
``client_check`` re-runs a client recording, ``render`` draws a scene with its
rays (the only module that needs PyQt6), and ``cli`` is ``optiverse-replay``.
docs/debugging.md is the guide.
"""
