"""`python -m core.jobs ...`: one job attempt in its own process (see supervise.py)."""

from core.jobs.supervise import child_main

raise SystemExit(child_main())
