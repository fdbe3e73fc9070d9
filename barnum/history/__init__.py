"""What happened, kept: the SQLite store and the recorder that feeds it."""
