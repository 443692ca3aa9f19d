"""Blocks: the API a block is written against, the loader, and the core library."""
