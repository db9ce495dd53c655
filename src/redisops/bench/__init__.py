"""Performance: redis-benchmark runs with history, percentiles, charts and a regression gate."""
