"""The WebSocket signaling server, its bus and a Python signaling client."""
