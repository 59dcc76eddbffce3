"""``python -m msa_bench.worker INPUT SCRATCH``: run the phase the harness wrote into ``INPUT``.

Exit status 0 when the phase finished, 2 when it refused the job (a :class:`UserError`, e.g. a
submission that fails its trial batch), 1 on any other failure; in both failure cases
``SCRATCH/outputs/error.json`` says what happened (the harness turns it into one paragraph).
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import torch

from msa_bench.util.errors import UserError, os_error_message
from msa_bench.worker import job as layout
from msa_bench.worker import phases


def main(argv: list[str]) -> int:
    data, scratch = (Path(a) for a in argv)
    job = layout.WorkerJob.read(data)
    torch.set_num_threads(job.threads)
    outputs = layout.outputs_folder(scratch)
    outputs.mkdir(parents=True, exist_ok=True)
    (outputs / layout.ERROR_FILE).unlink(missing_ok=True)
    try:
        if job.phase == "describe":
            phases.write_json(outputs / layout.DESCRIPTION_FILE, phases.describe(job, data))
        elif job.phase == "train" and job.nproc > 1:
            from msa_bench.worker import ddp

            ddp.train(job, data, scratch)
        elif job.phase == "train":
            phases.train(job, data, scratch)
        else:
            phases.evaluate(job, data, scratch)
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # noqa: BLE001 - every failure of model code is reported to the harness
        fixable = os_error_message(err) if isinstance(err, OSError) else None  # a full or read-only disk
        user = isinstance(err, UserError) or fixable is not None
        detail = fixable or (str(err) if user else "".join(traceback.format_exception_only(type(err), err)).strip())
        phases.write_json(outputs / layout.ERROR_FILE, {"type": type(err).__name__, "message": detail, "user_error": user})
        if not user:
            traceback.print_exc()
        return 2 if user else 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
