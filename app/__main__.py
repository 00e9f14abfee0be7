import os
import sys

from app.cli import main

code = main()
sys.stdout.flush()
sys.stderr.flush()
# Leave without interpreter finalisation: the Temporal SDK's runtime can crash there
# (PyGILState_Release) after the command has finished, which would change the exit code.
os._exit(code)
