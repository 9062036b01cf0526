"""The Optiverse collaboration server (``optiverse-server``); see docs/server.md."""
