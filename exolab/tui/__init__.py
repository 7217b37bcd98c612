"""The terminal UI (Textual). Only this package imports Textual."""
