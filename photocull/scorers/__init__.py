"""Scorers: one module per scorer behind the small interface in ``base``."""
