"""The cast path: verify, append to the board, commit, receipt."""
