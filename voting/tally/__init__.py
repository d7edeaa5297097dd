"""The tally: aggregate on close, trustees' partial decryptions, the result."""
