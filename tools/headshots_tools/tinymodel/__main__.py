"""`python -m headshots_tools.tinymodel --arch sd15|sdxl --out DIR [--force]`."""

from headshots_tools.tinymodel.generate import main

main()
