"""`python -m app.cli`: the same program as the `wsss4luad` script."""

from app.cli import main

main()
