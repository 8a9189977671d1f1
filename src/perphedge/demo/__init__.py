"""``perphedge demo``: the live engine on an in-process local exchange replaying real history."""
