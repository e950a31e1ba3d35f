"""The Templates mode: browse, edit, version, diff and label templates."""

from .screen import TemplatesScreen

__all__ = ["TemplatesScreen"]
