"""Developer tools: the synthetic dataset and `make demo`; never imported by the server."""
