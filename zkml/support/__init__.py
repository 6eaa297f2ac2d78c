"""Support: files, hashing, the cache, optional dependencies, scrubbing. Imports nothing else of zkml but errors."""
