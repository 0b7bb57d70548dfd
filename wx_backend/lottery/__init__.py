"""Draws anyone can verify: the pool of entries, the commit-and-reveal draw, the public
randomness beacon, and what is published."""
