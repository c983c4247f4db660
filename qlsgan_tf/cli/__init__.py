"""The ``qlsgan`` command line (absl app with subcommands)."""
