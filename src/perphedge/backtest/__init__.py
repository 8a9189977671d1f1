"""Historical replay: the same planning core as live, fast between decision points."""
