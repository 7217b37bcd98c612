"""Pure domain layer of exolab: vocabularies, units, result values, SPREC, MISEV rules.

Nothing in this package imports SQLAlchemy or Textual.
"""
