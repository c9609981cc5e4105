import sys

from pingtree.cli import main

sys.exit(main())
