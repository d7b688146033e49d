"""Fixture plug-in that calls sys.exit() at import, as a script-style module would."""

import sys

sys.exit("this plug-in exits when imported")
