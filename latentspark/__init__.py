"""latentspark: word embeddings at cluster scale on Spark."""

__version__ = "0.1.0"
