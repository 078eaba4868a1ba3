"""`make bench`: our training, inference and nightly against the seed article's Gluon recipe."""
