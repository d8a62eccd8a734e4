"""Result records and the machine they came from (docs/DESIGN.md §7 output format)."""
from __future__ import annotations

import json
import os
import platform
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Record:
    impl: str
    metric: str          # e.g. latency_p50, throughput, tokenize_mb_s, attribution_tokenize, coldstart
    scenario: str        # single | batch | long | tokenize | sweep:<b>x<len> | ...
    value: float
    unit: str
    device: str = "cpu"
    host: str = field(default_factory=socket.gethostname)
    extra: dict = field(default_factory=dict)


def machine(threads: int) -> dict:
    import torch
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"host": socket.gethostname(), "cpu": cpu, "cores": os.cpu_count(), "threads": threads,
            "python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform()}


def write(path: Path, mach: dict, records: list[Record]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": mach, "records": [asdict(r) for r in records]}, indent=1))
