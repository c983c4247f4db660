"""Subcommands of the ``qlsgan`` console script, one module each."""
