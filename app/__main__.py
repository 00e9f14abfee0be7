"""`python -m app` (what ./start.sh runs): the command line, made safe to start with a closed
standard stream and to leave without the SDK's finalisation crash."""

import os
import sys
import warnings

# Started with a standard stream closed (`./start.sh status >&-`): Python leaves sys.stdout
# None, and the first file this process opens would take the stream's number, so that what a
# child process prints lands in it. The closed stream is the null device instead.
for number, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
    try:
        os.fstat(number)
    except OSError:
        os.dup2(os.open(os.devnull, os.O_RDONLY if mode == "r" else os.O_WRONLY), number)
        setattr(sys, name, open(number, mode, closefd=False))

# platformdirs (via the SDK's env config) warns when XDG_RUNTIME_DIR is unset, as under root.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")

try:
    from temporalio.runtime import Runtime

    from app.cli import main
    from app.core_logs import forwarding_runtime
except KeyboardInterrupt:  # Ctrl-C in the second these take: the exit code says so, without a traceback
    os._exit(130)

# sdk-core's warnings (Temporal unreachable, say) into our log, not onto the operator's screen
# as coloured free text (over the TUI's menus, through the API's terminal).
Runtime.set_default(forwarding_runtime())
try:
    code = main()
except SystemExit as leaving:  # argparse's --help (0) and usage errors (2): leave by os._exit all the same
    code = leaving.code if isinstance(leaving.code, int) else 0 if leaving.code is None else 1
for stream in (sys.stdout, sys.stderr):
    try:
        stream.flush()
    except (OSError, ValueError):  # a reader that went away: there is nothing more to say, nor anywhere to say it
        pass
# Leave without interpreter finalisation, on every path: the Temporal SDK's runtime can crash
# there (PyGILState_Release, printed as a "Fatal Python error") once a client has run, which
# would also change the exit code.
os._exit(code)
