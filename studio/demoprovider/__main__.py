"""python -m studio.demoprovider: the demo provider without the studio around it."""

from __future__ import annotations

from .cli import main

main()
