import sys

from cargo_verify._cli import main

sys.exit(main())
