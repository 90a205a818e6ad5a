"""Degradations and data for training and evaluation."""
