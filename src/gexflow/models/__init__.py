"""Generative models of expression profiles and the one training loop they share."""
