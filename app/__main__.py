import os
import sys
import warnings

# platformdirs (via the SDK's env config) warns when XDG_RUNTIME_DIR is unset, as under root.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")

from app.cli import main

code = main()
sys.stdout.flush()
sys.stderr.flush()
# Leave without interpreter finalisation: the Temporal SDK's runtime can crash there
# (PyGILState_Release) after the command has finished, which would change the exit code.
os._exit(code)
