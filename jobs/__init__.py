"""Offline work, apart from the serving core: evaluation, training, instruct-data generation, the sandbox of
model-written code, and benchmarks."""
