"""`python butler_cli.py deploy <url>`, `python butler_cli.py health`: the `butler` command
line run from a checkout (the same app as the `butler` the install puts on the PATH)."""

from butlercli.main import run

if __name__ == "__main__":
    run()
