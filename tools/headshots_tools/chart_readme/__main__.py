import sys

from headshots_tools.chart_readme import main

sys.exit(main())
