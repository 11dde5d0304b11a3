"""`butler`: Butler's command line. It talks only to a Butler's REST API and WebSockets, so it
works the same against a remote Butler; it imports nothing of the server."""

__version__ = "0.1.0"
