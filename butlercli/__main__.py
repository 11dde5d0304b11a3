"""`python -m butlercli ...`"""

from butlercli.main import run

run()
