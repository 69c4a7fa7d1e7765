"""Applications built on the model and the chemistry: multi-pocket screening, timed benchmark
runs, EDM's property-conditioning protocol."""
