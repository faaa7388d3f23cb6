"""``python -m services.qa.training``: the reader training command (see cli.py)."""

from services.qa.training.cli import main

raise SystemExit(main())
