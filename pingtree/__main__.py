import sys

from pingtree.cli.main import main

sys.exit(main())
