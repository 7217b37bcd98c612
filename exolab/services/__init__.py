"""Use cases (register, isolate, record, query, audit, import): the one service layer."""
