"""Dataset records, frame sampling, video decoding and the torch data loaders built on them."""
