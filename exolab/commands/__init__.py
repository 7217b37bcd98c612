"""CLI command groups. Each module has ``register(subparsers, common)`` and imports heavy
things (Textual, plotting) only inside the handlers that need them."""
