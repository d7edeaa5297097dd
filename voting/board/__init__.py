"""The bulletin board: every public event of an election, as an RFC 9162 log."""
