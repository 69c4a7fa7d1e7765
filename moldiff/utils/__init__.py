"""Small utilities that import no other moldiff module: atomic file writes, CSV tables, the
exceptions counted as user errors, allocator settings for CPU sampling, a headless browser."""
