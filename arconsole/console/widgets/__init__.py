"""Widgets of the console: the panes and the header."""
