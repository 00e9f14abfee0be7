import os
import sys
import warnings

# platformdirs (via the SDK's env config) warns when XDG_RUNTIME_DIR is unset, as under root.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")

from temporalio.runtime import Runtime

from app.cli import main
from app.core_logs import forwarding_runtime

# sdk-core's warnings (Temporal unreachable, say) into our log, not onto the operator's screen
# as coloured free text (over the TUI's menus, through the API's terminal).
Runtime.set_default(forwarding_runtime())
code = main()
sys.stdout.flush()
sys.stderr.flush()
# Leave without interpreter finalisation: the Temporal SDK's runtime can crash there
# (PyGILState_Release) after the command has finished, which would change the exit code.
os._exit(code)
