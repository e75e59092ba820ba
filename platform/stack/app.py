"""`python app.py` from platform/: the same as `python -m qip_platform.app`."""

from qip_platform.app import main

raise SystemExit(main())
