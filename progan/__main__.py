import sys

from progan.cli import main

sys.exit(main())
