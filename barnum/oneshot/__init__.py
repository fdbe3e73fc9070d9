"""One run over the fleet: plan it, run it on a thread pool, get results."""
