"""`python -m reference_models.mlps`: what `wsss4luad baseline describe|train|predict` runs."""

import sys

try:
    import torch  # noqa: F401
except ImportError:
    sys.stderr.write(
        "error: the baseline needs PyTorch; install the project with its baseline extra: "
        "pip install -e '.[baseline]'\n"
    )
    sys.exit(2)

from reference_models.mlps.cli import main

main()
