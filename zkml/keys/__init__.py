"""Keys: setup, authenticated proving and verifying keys, proving."""
