"""Database layer: declarative models, engine set-up, sessions and migrations."""
