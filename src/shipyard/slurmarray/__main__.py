"""``python -m shipyard.slurmarray HOME FOLDER``: an array task's entry
(:func:`shipyard.slurmarray.taskside.main`)."""

from __future__ import annotations

import sys

from shipyard.slurmarray.taskside import main

sys.exit(main())
