import sys

from pingtree.cli.main import main

# Guarded: a process that multiprocessing spawns (a suppression list's parallel load) imports
# this module again, as __mp_main__, and must not start pingtree a second time.
if __name__ == "__main__":
    sys.exit(main())
