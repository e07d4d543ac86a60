"""`python -m crawler.cli` runs the expowatch command line."""

from crawler.cli import main

main()
