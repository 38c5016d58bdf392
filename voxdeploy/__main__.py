import sys

from voxdeploy.cli import main

sys.exit(main())
