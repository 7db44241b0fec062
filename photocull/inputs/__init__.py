"""What photocull reads: the input formats registry (scan and decode use it)."""

from .formats import FORMATS, InputFormat, by_extension, register_format, sniff

__all__ = ["FORMATS", "InputFormat", "by_extension", "register_format", "sniff"]
