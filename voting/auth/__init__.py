"""Certificate login, sessions and rosters."""
