"""A chat assistant grounded in a collection of news articles, with verified citations."""

__version__ = "0.1.0"
