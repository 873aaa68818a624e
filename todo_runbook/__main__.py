"""`python -m todo_runbook ...` is the same as `todo-runbook ...`."""

import sys

from .cli import main

sys.exit(main())
