"""Modal screens of the console: confirmations, details, help."""
