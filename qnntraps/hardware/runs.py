"""Hardware-track runs: the backend opened once per run, one ShotOracle per chunk, and the
hardware facts written into the run folder (docs/hardware.md, "What is recorded").

- `hardware.json`: {"format": "qnntraps-hardware/1", "config": <the configuration>,
  "sessions": [...]}; one session per invocation of the run (a resume adds one): when it
  opened, the device facts (device name, backend version, calibration time or null with a reason,
  shots per circuit, transpiler seed and layouts, simulator options, SDK versions).
  Rewritten atomically.
- `hardware_jobs.jsonl`: one line per job, appended as the jobs finish: session, restart, kind
  (loss | gradient), points, circuits, shots, the simulator seed (local backends) and the job
  id (null where the provider gives none). A chunk killed in flight leaves its jobs here, whose
  restarts are run again on resume: the records in restarts.jsonl are the truth.
- each restart record gets `nshots` (shots spent) and `hardware`: {"jobs": number of jobs,
  "noisy_final_loss": the exact loss under the same noise model at the final point (density-
  matrix simulation) or null, "noisy_final_loss_note": why it is null}.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import numpy as np

from qnntraps.atomic import append_durably, json_line, write_error, write_json_atomic
from qnntraps.export.circuits import dataset_loss
from qnntraps.hardware.backend import ShotBackend, open_backend
from qnntraps.hardware.config import HardwareConfig
from qnntraps.hardware.errors import HardwareError
from qnntraps.hardware.oracle import ShotOracle, restart_generator
from qnntraps.instance import Instance
from qnntraps.oracles.budget import Budget

HARDWARE = "hardware.json"
JOBS = "hardware_jobs.jsonl"
HARDWARE_FORMAT = "qnntraps-hardware/1"


class HardwareRun:
    """The hardware side of one invocation of `run` on the hardware track."""

    def __init__(
        self,
        instance: Instance,
        config: HardwareConfig,
        folder: Path,
        sha256: str,
        backend: ShotBackend | None = None,
    ) -> None:
        """`backend`: one already opened (the runner opens it before it writes anything)."""
        self.instance = instance
        self.config = config
        self.folder = Path(folder)
        self.sha256 = sha256
        self.backend: ShotBackend = backend or open_backend(instance, config)
        self.session = self._write_session()

    def _write_session(self) -> int:
        path = self.folder / HARDWARE
        data = (
            _read_hardware(path)
            if path.exists()
            else {"format": HARDWARE_FORMAT, "config": self.config.as_dict(), "sessions": []}
        )
        opened = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        facts = self.backend.device_facts()
        data["sessions"].append({"session": len(data["sessions"]), "opened": opened, **facts})
        write_json_atomic(path, _jsonable(data))
        return len(data["sessions"]) - 1

    def oracle(self, indices: list[int], budget: Budget) -> ShotOracle:
        generators = [restart_generator(self.sha256, self.config.seed, r) for r in indices]
        return ShotOracle(
            self.backend,
            self.instance.dataset.labels,
            len(indices),
            budget,
            generators,
            restart_ids=indices,
            job_log=self._log_jobs,
        )

    def _log_jobs(self, jobs: list[dict]) -> None:
        block = "".join(json_line({"session": self.session, **job}) for job in jobs).encode()
        path = self.folder / JOBS
        if not self.backend.is_simulator:  # paid jobs: their ids must survive a crash
            append_durably(path, block)
            return
        try:
            with open(path, "ab") as stream:
                stream.write(block)
        except OSError as error:
            raise write_error(error, path) from error

    def annotate(self, records: list[dict], oracle: ShotOracle, final: np.ndarray) -> None:
        """Add `nshots` and `hardware` to each record of the chunk (in place)."""
        finite = np.all(np.isfinite(final), axis=1)
        noisy = None
        if finite.any():
            predictions = self.backend.noisy_predictions(final[finite])
            if predictions is not None:
                noisy = np.full(final.shape[0], np.nan)
                dataset = self.instance.dataset
                noisy[finite] = dataset_loss(predictions, dataset.labels, dataset.loss, False)
        note = self.backend.noisy_unavailable_reason
        for i, record in enumerate(records):
            value = None if noisy is None or not finite[i] else float(noisy[i])
            record["nshots"] = int(oracle.shots[i])
            record["hardware"] = {
                "jobs": int(oracle.jobs[i]),
                "noisy_final_loss": value,
                "noisy_final_loss_note": None if value is not None else (note or "no final point"),
            }


def _read_hardware(path: Path) -> dict:
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise HardwareError(
            f"cannot read {path} ({type(error).__name__}); restore it or use a new --out folder"
        ) from None
    if not isinstance(data, dict) or data.get("format") != HARDWARE_FORMAT:
        raise HardwareError(f"{path} is not a {HARDWARE_FORMAT} file; use a new --out folder")
    if not isinstance(data.get("sessions"), list):
        raise HardwareError(f"{path} has no list of sessions; use a new --out folder")
    return data


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value
