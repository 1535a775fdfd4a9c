"""`python -m ecsync ...`: the product's command line (see `ecsync/cli.py`)."""

from ecsync.cli import main

if __name__ == "__main__":
    main()
