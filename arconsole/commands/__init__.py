"""One module per sub-command. Each exposes `register(subparsers)` and keeps heavy imports
inside its `run(args)` so that `arconsole check` never pays for Textual."""
