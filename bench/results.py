"""Result records and the machine they came from (docs/DESIGN.md §7 output format)."""
from __future__ import annotations

import json
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
    """The machine descriptor (bench/machine.py): hardware, versions, commit and host id."""
    from .machine import describe
    return describe(threads)


def write(path: Path, mach: dict, records: list[Record]) -> None:
    from .machine import complete
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": complete(mach), "records": [asdict(r) for r in records]}, indent=1))
